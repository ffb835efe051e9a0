#pragma once
// Integrity of the files keel writes and later reads back (checkpoints, ...): the payload is
// followed by a 20-byte trailer — "KEELSUM1", the payload size (u64, little-endian) and the
// payload's CRC-32 (zlib) — written atomically with it. Reading verifies all three, so a flipped
// byte or a truncated file is refused with one line instead of yielding garbage.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace keel::core {

inline constexpr std::size_t kSealSize = 20;

// zlib's CRC-32 of `data`.
std::uint32_t crc32_of(std::string_view data);

// `payload` with its trailer appended.
std::string seal(std::string payload);

// The payload of sealed `bytes`; throws InputError naming `file`: "corrupt (checksum mismatch)"
// when the CRC differs, "truncated or corrupt" when the trailer or the size does not match.
std::string_view unseal(std::string_view bytes, const std::string& file);

// Writes seal(payload) atomically / reads a whole file and unseals it (`what` names the kind of
// file in messages, e.g. "checkpoint"). With `legacy_zip`, a file written before keel sealed its
// files (a zip archive ending in its end-of-central-directory record, no trailer) is returned
// whole and *legacy_zip set, so the caller can warn; anything else must pass the check.
void write_sealed_file(const std::filesystem::path& path, std::string payload);
std::string read_sealed_file(const std::filesystem::path& path, const std::string& what,
                             bool* legacy_zip = nullptr);

// Directories of files other tools also read (SentencePiece models, corpus text) carry a
// manifest, DIR/checksums: one line per file keel wrote there, "<crc32 hex> <size> <name>".
inline constexpr const char* kManifest = "checksums";
// Writes DIR/checksums for `names` (files in `dir`, read back from disk), atomically.
void write_manifest(const std::filesystem::path& dir, const std::vector<std::string>& names);
// Adds (or updates) the entry of one file in its directory's manifest, keeping the others.
void add_to_manifest(const std::filesystem::path& file);
// When `file`'s directory has a manifest listing it, checks its size and CRC-32 and throws
// InputError ("corrupt (checksum mismatch)", "truncated or corrupt") on a mismatch. Files it does
// not list, and directories without one, pass unchecked.
void verify_listed(const std::filesystem::path& file);

}  // namespace keel::core
