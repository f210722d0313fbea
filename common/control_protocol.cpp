#include "common/control_protocol.h"

#include <array>
#include <vector>

#include <fmt/format.h>

#include "common/strings.h"

namespace sg::control {

const CommandSpec* FindCommand(std::string_view name) {
  for (const auto& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int JsonDepth(std::string_view text) {
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

namespace {

// One pass over a request frame with nlohmann's SAX parser: checks the limits on nesting, keys,
// strings and values, stopping at the first one passed. It builds nothing, so its cost is linear in
// the frame whatever the frame holds.
class LimitScan {
 public:
  using json = nlohmann::json;
  std::string error;  // a limit passed, or a syntax error: why

  bool null() { return Value(); }
  bool boolean(bool /*value*/) { return Value(); }
  bool number_integer(json::number_integer_t /*value*/) { return Value(); }
  bool number_unsigned(json::number_unsigned_t /*value*/) { return Value(); }
  bool number_float(json::number_float_t /*value*/, const json::string_t& /*text*/) {
    return Value();
  }
  bool string(json::string_t& value) { return Value() && Fits(value, "string"); }
  bool binary(json::binary_t& /*value*/) { return Value(); }
  bool start_object(std::size_t /*size*/) {
    keys_.push_back(0);
    return Value() && Deeper();
  }
  bool key(json::string_t& name) {
    if (!Fits(name, "key")) return false;
    if (++keys_.back() > kMaxKeys) {
      return Stop(fmt::format("an object has more than {} keys", kMaxKeys));
    }
    return true;
  }
  bool end_object() { return Shallower(); }
  bool start_array(std::size_t /*size*/) {
    keys_.push_back(0);
    return Value() && Deeper();
  }
  bool end_array() { return Shallower(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*e*/) {
    return Stop("request is not valid JSON");
  }

 private:
  bool Value() {
    if (++values_ <= kMaxValues) return true;
    return Stop(fmt::format("request holds more than {} values", kMaxValues));
  }
  bool Deeper() {
    if (static_cast<int>(keys_.size()) > kMaxDepth) {
      return Stop(fmt::format("request nests deeper than {} levels", kMaxDepth));
    }
    return true;
  }
  bool Shallower() {
    keys_.pop_back();
    return true;
  }
  bool Fits(const std::string& text, const char* what) {
    if (text.size() <= kMaxStringBytes) return true;
    return Stop(fmt::format("a {} of {} bytes is over the limit of {}", what, text.size(),
                            kMaxStringBytes));
  }
  bool Stop(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }

  std::vector<int> keys_;  // keys so far in each open array or object (arrays count none)
  int values_ = 0;
};

// Finds the first "id" of a frame's top-level object without parsing the rest: values before it
// are skipped by a byte scan that only follows strings and brackets, much faster than a parse,
// so that the control server can afford it on its own thread for the replies it makes itself.
class IdScan {
 public:
  explicit IdScan(std::string_view text) : text_(text) {}

  struct Found {
    std::string id;    // "" when none could be read
    bool bad = false;  // there is an id, but not a string or a number
  };

  Found Run() {
    Space();
    if (!Eat('{')) return {};
    for (;;) {
      Space();
      const size_t key_start = pos_;
      if (!SkipString()) return {};
      const std::string_view key_text = text_.substr(key_start, pos_ - key_start);
      Space();
      if (!Eat(':')) return {};
      Space();
      const size_t value_start = pos_;
      if (!SkipValue()) return {};
      if (IsId(key_text)) return Id(text_.substr(value_start, pos_ - value_start));
      Space();
      if (!Eat(',')) return {};
    }
  }

 private:
  static Found Id(std::string_view value) {
    // A number is kept as written: its text, checked against JSON's grammar.
    if (IsNumber(value)) return {std::string(value), false};
    if (value.front() != '"')
      return {"", value == "null" || value == "true" || value == "false" || value.front() == '{' ||
                      value.front() == '['};
    const auto j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (!j.is_string() || j.get_ref<const std::string&>().size() > kMaxStringBytes) return {};
    return {j.get<std::string>(), false};
  }
  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  static bool IsNumber(std::string_view text) {
    size_t i = 0;
    auto digits = [&] {
      const size_t start = i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
      return i > start;
    };
    if (i < text.size() && text[i] == '-') ++i;
    if (i < text.size() && text[i] == '0') {
      ++i;
    } else if (!digits()) {
      return false;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      if (!digits()) return false;
    }
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
      ++i;
      if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return i == text.size();
  }
  // Whether a key's text, quotes included, stands for "id".
  static bool IsId(std::string_view quoted) {
    if (quoted.find('\\') == std::string_view::npos) return quoted == "\"id\"";
    if (quoted.size() > 64) return false;  // "id" spelled with escapes is short
    const auto j = nlohmann::json::parse(quoted, nullptr, /*allow_exceptions=*/false);
    return j.is_string() && j.get_ref<const std::string&>() == "id";
  }
  void Space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Eat(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  // From an opening quote to past its closing one.
  bool SkipString() {
    if (!Eat('"')) return false;
    for (;;) {
      const size_t quote = text_.find('"', pos_);
      if (quote == std::string_view::npos) return false;
      size_t backslashes = 0;
      while (quote - backslashes > pos_ && text_[quote - backslashes - 1] == '\\') ++backslashes;
      pos_ = quote + 1;
      if (backslashes % 2 == 0) return true;
    }
  }
  bool SkipValue() {
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_];
    if (c == '"') return SkipString();
    if (c == '{' || c == '[') return SkipNested();
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '}' && text_[pos_] != ']' &&
           text_[pos_] != ' ' && text_[pos_] != '\t' && text_[pos_] != '\n' &&
           text_[pos_] != '\r') {
      ++pos_;
    }
    return pos_ > start;
  }
  // An array or object: brackets counted, strings skipped, nothing else looked at.
  bool SkipNested() {
    static const auto kSpecial = [] {
      std::array<bool, 256> special{};
      for (const unsigned char c : {'"', '[', ']', '{', '}'}) special[c] = true;
      return special;
    }();
    size_t depth = 0;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (!kSpecial[static_cast<unsigned char>(c)]) {
        ++pos_;
      } else if (c == '"') {
        if (!SkipString()) return false;
      } else {
        ++pos_;
        depth = c == '[' || c == '{' ? depth + 1 : depth - 1;
        if (depth == 0) return true;
      }
    }
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::string PeekRequestId(std::string_view frame) { return IdScan(frame).Run().id; }

Result<Request> DecodeRequest(std::string_view frame, std::string& id) {
  id.clear();
  if (static_cast<int64_t>(frame.size()) > kMaxFrameBytes) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("request of {} bytes is over the limit of {}", frame.size(), kMaxFrameBytes));
  }
  const IdScan::Found found = IdScan(frame).Run();
  id = found.id;
  LimitScan scan;
  (void)nlohmann::json::sax_parse(frame, &scan);
  if (!scan.error.empty()) return Fail(ErrorCode::kInvalidArgument, scan.error);
  if (found.bad) return Fail(ErrorCode::kInvalidArgument, "\"id\" must be a string or a number");
  // Within the limits the tree is small: at most kMaxValues values, kMaxKeys to an object.
  nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "request is not valid JSON");
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, "request is not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) {
    return Fail(ErrorCode::kInvalidArgument,
                "\"v\" (the protocol version) is missing or not an integer");
  }
  if (v->get<int64_t>() != kProtocolVersion) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("protocol version {} is not supported; this daemon speaks {}",
                            v->dump(), kProtocolVersion));
  }
  auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "\"cmd\" is missing or not a string");
  }
  Request request;
  request.id = id;
  request.cmd = cmd->get<std::string>();
  const CommandSpec* spec = FindCommand(request.cmd);
  if (spec == nullptr) {
    std::vector<std::string> names;
    for (const auto& c : Commands()) names.emplace_back(c.name);
    return Fail(ErrorCode::kNotFound, fmt::format("unknown command '{}'{}", Printable(request.cmd),
                                                  DidYouMean(request.cmd, names)));
  }
  request.command = spec->id;
  if (auto args = j.find("args"); args != j.end()) {
    if (!args->is_object()) return Fail(ErrorCode::kInvalidArgument, "\"args\" must be an object");
    request.args = std::move(*args);
  }
  return request;
}

namespace {

std::string Dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string EncodeRequest(const Request& request) {
  return Dump(
      {{"v", kProtocolVersion}, {"id", request.id}, {"cmd", request.cmd}, {"args", request.args}});
}

std::string EncodeOk(const std::string& id, const nlohmann::ordered_json& result) {
  return Dump({{"v", kProtocolVersion}, {"id", id}, {"ok", true}, {"result", result}});
}

std::string EncodeError(const std::string& id, std::string_view code, std::string_view message) {
  return Dump({{"v", kProtocolVersion},
               {"id", id},
               {"ok", false},
               {"error", {{"code", code}, {"message", message}}}});
}

Result<Reply> DecodeReply(std::string_view frame) {
  if (JsonDepth(frame) > kMaxDepth * 4) {
    return Fail(ErrorCode::kInternal, "the daemon sent a reply nested too deep");
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(frame, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    return Fail(ErrorCode::kInternal, "the daemon sent a reply that is not a control reply");
  }
  Reply reply;
  if (j.contains("id") && j["id"].is_string()) reply.id = j["id"].get<std::string>();
  reply.ok = j["ok"].get<bool>();
  if (reply.ok) {
    reply.result = j.value("result", nlohmann::ordered_json::object());
  } else {
    const auto error = j.find("error");
    if (error == j.end() || !error->is_object()) {
      return Fail(ErrorCode::kInternal, "the daemon sent an error reply without an error object");
    }
    const auto code = error->find("code");
    const auto message = error->find("message");
    reply.error_code =
        code != error->end() && code->is_string() ? code->get<std::string>() : "internal";
    reply.error_message = message != error->end() && message->is_string()
                              ? message->get<std::string>()
                              : "no message";
  }
  return reply;
}

}  // namespace sg::control
