// PyTorch checkpoint reader (torch_pickle.h).
#include "torch_pickle.h"

#include <fmt/format.h>
#include <zip.h>

#include <bit>
#include <cstring>

#include "keel/core/error.h"
#include "keel/nmt/half.h"

namespace keel::nmt::pt {

namespace {

Ref make(Value::Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

class Machine {
 public:
  Machine(const std::vector<unsigned char>& b, std::string where) : b_(b), where_(std::move(where)) {}

  Ref run() {
    for (;;) {
      const unsigned char op = byte();
      switch (op) {
        case 0x80: byte(); break;                   // PROTO
        case 0x95: take(8); break;                  // FRAME
        case '}': push(make(Value::Kind::dict)); break;
        case ']': push(make(Value::Kind::list)); break;
        case ')': push(make(Value::Kind::tuple)); break;
        case '(': marks_.push_back(stack_.size()); break;
        case 'q': memo(byte()); break;              // BINPUT
        case 'r': memo(u32()); break;               // LONG_BINPUT
        case 0x94: memo(memo_.size()); break;       // MEMOIZE
        case 'h': push(recall(byte())); break;      // BINGET
        case 'j': push(recall(u32())); break;       // LONG_BINGET
        case 'X': push(str(u32())); break;          // BINUNICODE
        case 0x8c: push(str(byte())); break;        // SHORT_BINUNICODE
        case 0x8d: push(str(u64())); break;         // BINUNICODE8
        case 'U': push(str(byte())); break;         // SHORT_BINSTRING
        case 'T': push(str(u32())); break;          // BINSTRING
        case 'C': push(bytes(byte())); break;       // SHORT_BINBYTES
        case 'B': push(bytes(u32())); break;        // BINBYTES
        case 'J': push(integer(static_cast<std::int32_t>(u32()))); break;
        case 'K': push(integer(byte())); break;
        case 'M': { const std::int64_t lo = byte(); push(integer(lo | static_cast<std::int64_t>(byte()) << 8)); break; }
        case 0x8a: push(long1()); break;
        case 'G': push(real()); break;
        case 'N': push(make(Value::Kind::none)); break;
        case 0x88: push(boolean(true)); break;
        case 0x89: push(boolean(false)); break;
        case 't': push(seq(Value::Kind::tuple, pop_mark())); break;
        case 0x85: push(seq(Value::Kind::tuple, pop_n(1))); break;
        case 0x86: push(seq(Value::Kind::tuple, pop_n(2))); break;
        case 0x87: push(seq(Value::Kind::tuple, pop_n(3))); break;
        case 'l': push(seq(Value::Kind::list, pop_mark())); break;
        case 'a': { auto v = pop(); list_of(top())->items.push_back(v); break; }
        case 'e': { auto vs = pop_mark(); auto l = list_of(top()); l->items.insert(l->items.end(), vs.begin(), vs.end()); break; }
        case 'd': { auto d = make(Value::Kind::dict); fill(d, pop_mark()); push(d); break; }
        case 's': { auto v = pop(), k = pop(); dict_of(top())->dict.emplace_back(k, v); break; }
        case 'u': { auto kv = pop_mark(); fill(dict_of(top()), kv); break; }
        case 'c': { auto module = line(); auto name = line(); push(global(module + "." + name)); break; }
        case 0x93: { auto name = pop(), module = pop(); push(global(module->s + "." + name->s)); break; }
        case 'R': { auto args = pop(), fn = pop(); push(reduce(fn, args)); break; }
        case 0x81: { auto args = pop(), cls = pop(); push(object(cls, args)); break; }
        case 'b': { auto st = pop(); build(top(), st); break; }
        case 'Q': push(persistent(pop())); break;
        case '.': if (stack_.size() != 1) fail("STOP with more than one value on the stack"); return stack_.back();
        default: fail(fmt::format("unsupported pickle opcode 0x{:02x}", op));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw core::InputError(fmt::format("cannot read the checkpoint's pickle: {} at byte {}", what, at_),
                           core::Location{where_, 0, 0, {}},
                           "pass a checkpoint written by torch.save (PyTorch 1.6 or later)");
  }
  const unsigned char* take(std::uint64_t n) {
    if (n > b_.size() - at_) fail("the pickle ends early");
    const unsigned char* p = b_.data() + at_;
    at_ += n;
    return p;
  }
  unsigned char byte() { return *take(1); }
  std::uint32_t u32() {
    const unsigned char* p = take(4);
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
  }
  std::uint64_t u64() {
    const std::uint64_t lo = u32();
    return lo | static_cast<std::uint64_t>(u32()) << 32;
  }
  std::string line() {
    std::string s;
    for (unsigned char c; (c = byte()) != '\n';) s += static_cast<char>(c);
    return s;
  }
  Ref str(std::uint64_t n) {
    auto v = make(Value::Kind::string);
    const auto* p = take(n);
    v->s.assign(reinterpret_cast<const char*>(p), n);
    return v;
  }
  Ref bytes(std::uint64_t n) {
    auto v = str(n);
    v->kind = Value::Kind::bytes;
    return v;
  }
  static Ref integer(std::int64_t x) {
    auto v = make(Value::Kind::integer);
    v->i = x;
    return v;
  }
  static Ref boolean(bool x) {
    auto v = make(Value::Kind::boolean);
    v->b = x;
    v->i = x;
    return v;
  }
  Ref long1() {
    const unsigned n = byte();
    if (n > 8) fail("an integer wider than 64 bits");
    std::uint64_t x = 0;
    const auto* p = take(n);
    for (unsigned k = 0; k < n; ++k) x |= static_cast<std::uint64_t>(p[k]) << (8 * k);
    if (n > 0 && n < 8 && (p[n - 1] & 0x80)) x |= ~0ull << (8 * n);  // sign-extend
    return integer(static_cast<std::int64_t>(x));
  }
  Ref real() {
    const auto* p = take(8);
    std::uint64_t x = 0;
    for (int k = 0; k < 8; ++k) x = x << 8 | p[k];  // big-endian
    auto v = make(Value::Kind::real);
    v->f = std::bit_cast<double>(x);
    return v;
  }
  static Ref global(const std::string& name) {
    auto v = make(Value::Kind::global);
    v->s = name;
    return v;
  }
  static Ref seq(Value::Kind k, std::vector<Ref> items) {
    auto v = make(k);
    v->items = std::move(items);
    return v;
  }
  void push(Ref v) {
    if (stack_.size() > 1'000'000) fail("a stack over a million values");
    stack_.push_back(std::move(v));
  }
  Ref pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("an empty stack");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Ref top() {
    if (stack_.empty()) fail("an empty stack");
    return stack_.back();
  }
  std::vector<Ref> pop_n(std::size_t n) {
    std::vector<Ref> out(n);
    for (std::size_t k = n; k-- > 0;) out[k] = pop();
    return out;
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("no MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  Ref list_of(Ref v) {
    if (v->kind != Value::Kind::list) fail("APPEND to a non-list");
    return v;
  }
  Ref dict_of(Ref v) {
    if (v->kind != Value::Kind::dict) fail("SETITEM on a non-dict");
    return v;
  }
  void fill(const Ref& d, const std::vector<Ref>& kv) {
    if (kv.size() % 2) fail("an odd number of dict items");
    for (std::size_t k = 0; k < kv.size(); k += 2) d->dict.emplace_back(kv[k], kv[k + 1]);
  }
  void memo(std::uint64_t id) {
    if (id > 10'000'000) fail("a memo index over ten million");
    if (memo_.size() <= id) memo_.resize(id + 1);
    memo_[id] = top();
  }
  Ref recall(std::uint64_t id) {
    if (id >= memo_.size() || !memo_[id]) fail(fmt::format("memo {} recalled before it was stored", id));
    return memo_[id];
  }
  Ref object(const Ref& cls, const Ref& args) {
    if (cls->kind != Value::Kind::global) fail("an object of a non-class");
    auto v = make(Value::Kind::object);
    v->s = cls->s;
    v->items = args->items;
    return v;
  }
  void build(const Ref& obj, const Ref& state) {
    if (obj->kind == Value::Kind::dict && state->kind == Value::Kind::dict) {
      obj->dict.insert(obj->dict.end(), state->dict.begin(), state->dict.end());
    } else {
      obj->state = state;  // objects keep theirs; a tensor's (its hooks) is ignored
    }
  }
  Ref persistent(const Ref& pid) {
    // ('storage', <class torch.FloatStorage>, key, location, numel)
    if (pid->kind != Value::Kind::tuple || pid->items.size() < 5 || pid->items[0]->s != "storage" ||
        pid->items[1]->kind != Value::Kind::global)
      fail("a persistent id that is not a tensor storage");
    std::string type = pid->items[1]->s;  // "torch.FloatStorage"
    auto v = make(Value::Kind::storage);
    v->s = pid->items[2]->kind == Value::Kind::string ? pid->items[2]->s : std::to_string(pid->items[2]->i);
    static const std::map<std::string, std::string> kTypes = {
        {"torch.FloatStorage", "float"}, {"torch.HalfStorage", "half"}, {"torch.BFloat16Storage", "bfloat16"},
        {"torch.DoubleStorage", "double"}, {"torch.LongStorage", "long"}, {"torch.IntStorage", "int"},
        {"torch.ShortStorage", "short"}, {"torch.CharStorage", "char"}, {"torch.ByteStorage", "byte"},
        {"torch.BoolStorage", "bool"}};
    const auto it = kTypes.find(type);
    v->dtype = it == kTypes.end() ? type : it->second;
    v->i = pid->items[4]->i;  // element count
    return v;
  }
  static std::vector<std::int64_t> ints(const Ref& t) {
    std::vector<std::int64_t> out;
    for (const auto& x : t->items) out.push_back(x->i);
    return out;
  }
  Ref reduce(const Ref& fn, const Ref& args) {
    if (fn->kind != Value::Kind::global || args->kind != Value::Kind::tuple) fail("REDUCE of a non-class");
    const std::string& f = fn->s;
    const auto& a = args->items;
    if (f == "collections.OrderedDict") return make(Value::Kind::dict);
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != Value::Kind::storage) fail("a tensor without its storage");
      auto t = make(Value::Kind::tensor);
      t->storage = a[0];
      t->dtype = a[0]->dtype;
      t->offset = a[1]->i;
      t->shape = ints(a[2]);
      t->stride = ints(a[3]);
      return t;
    }
    if (f == "torch._utils._rebuild_parameter" && !a.empty()) return a[0];
    if (f == "_codecs.encode" && !a.empty()) {  // protocol 2's bytes
      auto v = make(Value::Kind::bytes);
      for (unsigned char c : a[0]->s) v->s += static_cast<char>(c);
      return v;
    }
    return object(fn, args);  // kept as name + arguments, never run
  }

  const std::vector<unsigned char>& b_;
  std::string where_;
  std::size_t at_ = 0;
  std::vector<Ref> stack_, memo_;
  std::vector<std::size_t> marks_;
};

std::size_t dtype_width(const std::string& dtype) {
  if (dtype == "float" || dtype == "int") return 4;
  if (dtype == "half" || dtype == "bfloat16" || dtype == "short") return 2;
  if (dtype == "double" || dtype == "long") return 8;
  return 1;
}

}  // namespace

const Value* Value::get(const std::string& key) const {
  const Value* d = kind == Kind::object && state ? state.get() : this;
  if (d->kind != Kind::dict) return nullptr;
  for (const auto& [k, v] : d->dict)
    if (k->kind == Kind::string && k->s == key) return v.get();
  return nullptr;
}

Ref unpickle(const std::vector<unsigned char>& bytes, const std::string& where) {
  return Machine(bytes, where).run();
}

Checkpoint::Checkpoint(const std::filesystem::path& file) : path_(file) {
  auto bad = [&](const std::string& what) {
    return core::InputError(what, core::Location{file.string(), 0, 0, {}},
                            "pass a checkpoint written by torch.save (PyTorch 1.6 or later)");
  };
  if (std::filesystem::is_directory(file))
    throw core::InputError("is a directory", core::Location{file.string(), 0, 0, {}},
                           "pass the checkpoint file itself (e.g. DIR/model.pt)");
  if (!std::filesystem::is_regular_file(file)) throw core::InputError("missing", core::Location{file.string(), 0, 0, {}}, "check the path");
  int err = 0;
  zip_ = zip_open(file.c_str(), ZIP_RDONLY, &err);
  if (!zip_) throw bad("not a zip archive (a legacy torch.save file, or not a checkpoint)");
  auto* z = static_cast<zip_t*>(zip_);
  const zip_int64_t n = zip_get_num_entries(z, 0);
  for (zip_int64_t k = 0; k < n; ++k) {
    const std::string name = zip_get_name(z, static_cast<zip_uint64_t>(k), 0);
    if (name.ends_with("/data.pkl") && name.find('/') == name.size() - 9) prefix_ = name.substr(0, name.size() - 8);
  }
  if (prefix_.empty()) {
    zip_close(z);
    zip_ = nullptr;
    throw bad("no <name>/data.pkl in the archive");
  }
  try {
    root_ = unpickle(entry(prefix_ + "data.pkl"), file.string());
  } catch (...) {
    zip_close(z);  // the destructor does not run for a constructor that throws
    zip_ = nullptr;
    throw;
  }
}

Checkpoint::~Checkpoint() {
  if (zip_) zip_close(static_cast<zip_t*>(zip_));
}

std::vector<unsigned char> Checkpoint::entry(const std::string& name) const {
  auto* z = static_cast<zip_t*>(zip_);
  zip_stat_t st;
  if (zip_stat(z, name.c_str(), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    throw core::InputError(fmt::format("the archive lacks {}", name), core::Location{path_.string(), 0, 0, {}},
                           "the checkpoint is incomplete: save it again");
  if (st.size > (1ull << 36))
    throw core::InputError(fmt::format("{} is implausibly large", name), core::Location{path_.string(), 0, 0, {}}, "check the file");
  std::vector<unsigned char> out(static_cast<std::size_t>(st.size));
  zip_file_t* f = zip_fopen(z, name.c_str(), 0);
  const zip_int64_t got = f ? zip_fread(f, out.data(), st.size) : -1;
  if (f) zip_fclose(f);
  if (got != static_cast<zip_int64_t>(st.size))
    throw core::InputError(fmt::format("cannot read {} (damaged archive)", name), core::Location{path_.string(), 0, 0, {}},
                           "the checkpoint is damaged: save it again");
  return out;
}

std::vector<float> Checkpoint::floats(const Value& t, const std::string& name) const {
  auto bad = [&](const std::string& what) {
    return core::InputError(what, core::Location{path_.string(), 0, 0, name}, "the checkpoint does not fit its options");
  };
  if (t.kind != Value::Kind::tensor) throw bad("not a tensor");
  if (t.dtype != "float" && t.dtype != "half" && t.dtype != "bfloat16")
    throw bad(fmt::format("{} tensor where float weights were expected", t.dtype));
  const std::size_t w = dtype_width(t.dtype);
  const auto raw = entry(prefix_ + "data/" + t.storage->s);
  if (raw.size() < static_cast<std::size_t>(t.storage->i) * w) throw bad("storage shorter than it says");
  std::int64_t numel = 1, last = t.offset;  // the furthest element read
  if (t.shape.size() != t.stride.size()) throw bad("shape and stride differ in rank");
  for (std::size_t k = 0; k < t.shape.size(); ++k) {
    if (t.shape[k] < 0 || t.stride[k] < 0) throw bad("negative shape or stride");
    numel *= t.shape[k];
    if (t.shape[k] > 0) last += (t.shape[k] - 1) * t.stride[k];
  }
  if (numel > 0 && (t.offset < 0 || static_cast<std::size_t>(last + 1) * w > raw.size()))
    throw bad("tensor reaches past its storage");
  std::vector<float> out(static_cast<std::size_t>(numel));
  std::vector<std::int64_t> idx(t.shape.size(), 0);
  for (std::int64_t e = 0; e < numel; ++e) {
    std::int64_t at = t.offset;
    for (std::size_t k = 0; k < idx.size(); ++k) at += idx[k] * t.stride[k];
    const unsigned char* p = raw.data() + static_cast<std::size_t>(at) * w;
    if (w == 4) {
      out[static_cast<std::size_t>(e)] = std::bit_cast<float>(std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 |
                                                                std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24);
    } else {
      const auto u = static_cast<std::uint16_t>(p[0] | p[1] << 8);
      out[static_cast<std::size_t>(e)] = t.dtype == "half" ? half_to_float_ref(u) : std::bit_cast<float>(std::uint32_t{u} << 16);
    }
    for (std::size_t k = idx.size(); k-- > 0;) {  // row-major increment
      if (++idx[k] < t.shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

}  // namespace keel::nmt::pt
