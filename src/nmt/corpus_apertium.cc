// Runs Debian's Apertium (`apertium eng-spa`) as a subprocess over batches of lines.
// The pipe plumbing (fork/exec, a writer thread, poll on stdout/stderr) is written by hand:
// Debian has no small well-kept C++ subprocess library (Boost.Process would pull in Boost).
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "keel/core/error.h"
#include "keel/nmt/corpus.h"

namespace keel::nmt {

namespace {

struct ProcessResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
};

// Runs argv with `input` on its stdin; `on_newlines(n)` is called as stdout delivers newlines.
ProcessResult run_process(const std::vector<std::string>& argv, std::string_view input,
                          const std::function<void(std::size_t)>& on_newlines) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    throw core::Error(std::string("cannot create a pipe: ") + std::strerror(errno));
  // Built before fork: the child of a threaded process may only make async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw core::Error(std::string("cannot fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // The writer blocks SIGPIPE for itself, so a child that dies early gives EPIPE, not a kill.
  std::thread writer([fd = in[1], input] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::size_t done = 0;
    while (done < input.size()) {
      const auto n = ::write(fd, input.data() + done, input.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
  });
  ProcessResult r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  char buf[1 << 16];
  for (int open = 2; open > 0;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const auto n = ::read(fds[k].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fds[k].fd);
        fds[k].fd = -1;
        --open;
        continue;
      }
      (k == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      if (k == 0 && on_newlines) {
        std::size_t lines = 0;
        for (ssize_t i = 0; i < n; ++i) lines += buf[i] == '\n';
        if (lines) on_newlines(lines);
      }
    }
  }
  writer.join();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string first_line(const std::string& s) {
  auto line = s.substr(0, s.find('\n'));
  return line.size() > 200 ? line.substr(0, 200) + "..." : line;
}

// One apertium process over lines [begin, end). Returns false when the output's paragraphs
// do not match the input lines one to one.
bool translate_batch(const std::vector<std::string>& lines, std::size_t begin, std::size_t end,
                     const ApertiumOptions& opt, std::vector<ApertiumLine>& result,
                     const std::function<void(std::size_t)>& on_lines) {
  std::string input;
  for (std::size_t i = begin; i < end; ++i) {
    // A newline inside a line would shift every later one.
    std::string line = lines[i];
    for (auto& c : line)
      if (c == '\n' || c == '\r') c = ' ';
    input += line;
    input += "\n\n";
  }
  std::size_t pending = 0;
  auto r = run_process({"apertium", opt.mode}, input, [&](std::size_t newlines) {
    pending += newlines;
    if (on_lines && pending >= 2) {
      on_lines(pending / 2);
      pending %= 2;
    }
  });
  if (r.status == 127)
    throw core::InputError("cannot run apertium", {},
                           "install it: scripts/install-deps.sh (apertium apertium-eng-spa)");
  if (r.status != 0)
    throw core::Error(
        fmt::format("apertium {} failed (exit {}): {}", opt.mode, r.status, first_line(r.err)));
  // Expected: "t_0\n\nt_1\n\n...": 2 * n newline-terminated lines, every second one empty.
  std::vector<std::string_view> out;
  std::string_view rest(r.out);
  while (!rest.empty()) {
    auto p = rest.find('\n');
    out.push_back(rest.substr(0, p));
    if (p == std::string_view::npos) break;
    rest.remove_prefix(p + 1);
  }
  const std::size_t n = end - begin;
  if (out.size() != 2 * n) return false;
  for (std::size_t k = 0; k < n; ++k)
    if (!out[2 * k + 1].empty()) return false;
  for (std::size_t k = 0; k < n; ++k) result[begin + k] = parse_apertium_output(out[2 * k]);
  return true;
}

// translate_batch, bisecting a batch whose output does not line up; a single line that
// still does not is marked failed.
void translate_range(const std::vector<std::string>& lines, std::size_t begin, std::size_t end,
                     const ApertiumOptions& opt, std::vector<ApertiumLine>& result,
                     const std::function<void(std::size_t)>& on_lines) {
  if (begin >= end) return;
  if (translate_batch(lines, begin, end, opt, result, {})) {
    if (on_lines) on_lines(end - begin);
    return;
  }
  if (end - begin == 1) {
    result[begin] = ApertiumLine{};
    result[begin].failed = true;
    if (on_lines) on_lines(1);
    return;
  }
  const std::size_t mid = begin + (end - begin) / 2;
  translate_range(lines, begin, mid, opt, result, on_lines);
  translate_range(lines, mid, end, opt, result, on_lines);
}

}  // namespace

ApertiumLine parse_apertium_output(std::string_view line) {
  // Sources never hold * # @ (reject_reason drops them), so every one here is Apertium's mark:
  // at a word's start or inside it ("(*botany)", "altos-*ranking", "coger#prpers").
  ApertiumLine r;
  const std::string text = normalize_text(line);
  r.first_known = std::string::npos;
  for (std::size_t i = 0; i < text.size();) {
    auto j = text.find(' ', i);
    if (j == std::string::npos) j = text.size();
    bool unknown = false;
    const std::size_t at = r.text.size() + (r.text.empty() ? 0 : 1);
    std::string word;
    for (std::size_t k = i; k < j; ++k) {
      const char c = text[k];
      if (c == '*')
        unknown = true, ++r.unknown;
      else if (c == '#' || c == '@')
        ++r.errors;
      else
        word += c;
    }
    if (!word.empty()) {
      if (!r.text.empty()) r.text += ' ';
      r.text += word;
      if (!unknown && r.first_known == std::string::npos) r.first_known = at;
    }
    i = j + 1;
  }
  return r;
}

std::string match_initial_case(std::string_view source, std::string_view target,
                               std::size_t first_known) {
  std::string t(target);
  if (source.empty() || first_known >= t.size()) return t;
  const bool lower = source[0] >= 'a' && source[0] <= 'z';
  const bool upper = source[0] >= 'A' && source[0] <= 'Z';
  char& c = t[first_known];
  // Apertium capitalizes the first word it translates in a paragraph, even after unknown words
  // copied through: a source starting lower-case (wordnet phrases) wants it lower-case again.
  if (lower) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    } else if (c == '\xC3' && first_known + 1 < t.size()) {
      // Latin-1 capitals in UTF-8 (Á É Ñ ...: C3 80..9E but not C3 97 "×") lower by 0x20.
      auto& d = reinterpret_cast<unsigned char&>(t[first_known + 1]);
      if (d >= 0x80 && d <= 0x9E && d != 0x97) d = static_cast<unsigned char>(d + 0x20);
    }
  }
  // And sometimes it starts a sentence lower-case ("There's no point" -> "no hay ..."): a
  // capitalized source wants a capital when the target starts with a translated word.
  if (upper && first_known == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return t;
}

std::vector<ApertiumLine> translate_apertium(const std::vector<std::string>& lines,
                                             const ApertiumOptions& options,
                                             const std::function<void(std::size_t)>& progress) {
  // `apertium -l` lists the installed modes: it fails when apertium is missing and lacks the
  // mode when the language pair is.
  auto modes = run_process({"apertium", "-l"}, {}, {});
  if (modes.status == 127)
    throw core::InputError("apertium is not installed", {},
                           "install it: scripts/install-deps.sh (apertium apertium-eng-spa)");
  bool found = false;
  for (std::size_t i = 0; i < modes.out.size();) {
    auto j = modes.out.find('\n', i);
    if (j == std::string::npos) j = modes.out.size();
    std::string m = modes.out.substr(i, j - i);
    m.erase(0, m.find_first_not_of(" \t"));
    found = found || m == options.mode;
    i = j + 1;
  }
  if (!found)
    throw core::InputError(fmt::format("apertium has no mode '{}'", options.mode), {},
                           "install the language pair: apt-get install apertium-eng-spa");

  std::vector<ApertiumLine> result(lines.size());
  const std::size_t batch = std::max<std::size_t>(1, options.batch_lines);
  const std::size_t batches = (lines.size() + batch - 1) / batch;
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::size_t done = 0;
  std::exception_ptr error;
  auto on_lines = [&](std::size_t n) {
    std::lock_guard lock(mu);
    done += n;
    if (progress) progress(done);
  };
  auto worker = [&] {
    try {
      for (std::size_t b; (b = next.fetch_add(1)) < batches;)
        translate_range(lines, b * batch, std::min(lines.size(), (b + 1) * batch), options, result,
                        on_lines);
    } catch (...) {
      std::lock_guard lock(mu);
      if (!error) error = std::current_exception();
      next = batches;
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < std::min<int>(options.jobs, static_cast<int>(batches)); ++j)
    pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return result;
}

}  // namespace keel::nmt
