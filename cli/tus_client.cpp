#include "cli/tus_client.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/http_libs.h"

namespace sg::cli {
namespace {

// For the helpers below, which a TusClient calls after loading the libraries.
const HttpLibs& RequireHttpLibs() {
  auto libs = LoadHttpLibs();
  if (!libs) throw std::runtime_error(libs.error().message);
  return **libs;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string Trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

struct Transfer {
  HttpReply* reply = nullptr;
  const SendProgress* progress = nullptr;
  bool stopped = false;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  // A new status line (after a 100 Continue, or a redirect) starts a new set of headers.
  if (line.starts_with("HTTP/")) {
    transfer->reply->headers.clear();
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    transfer->reply->headers[Lower(std::string(line.substr(0, colon)))] =
        Trim(line.substr(colon + 1));
  }
  return size * count;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  // An error body is small; cap what we keep of anything else.
  if (reply->body.size() < 64 * 1024) reply->body.append(data, size * count);
  return size * count;
}

int OnProgress(void* user, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/, curl_off_t /*ultotal*/,
               curl_off_t ulnow) {
  auto* transfer = static_cast<Transfer*>(user);
  if (*transfer->progress && !(*transfer->progress)(static_cast<uint64_t>(ulnow))) {
    transfer->stopped = true;
    return 1;
  }
  return 0;
}

}  // namespace

struct TusClient::Impl {
  const HttpLibs* libs = nullptr;
  CURL* curl = nullptr;
  ~Impl() {
    if (curl != nullptr) libs->easy_cleanup(curl);
  }
};

std::string HttpReply::Header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string HttpReply::Problem() const {
  std::string message;
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object() && json.contains("error")) {
    const auto& error = json["error"];
    if (error.is_object()) message = error.value("message", "");
    if (error.is_string()) message = error.get<std::string>();
  }
  if (message.empty() && !json.is_object()) message = Trim(body.substr(0, body.find('\n')));
  if (message.size() > 200) message = message.substr(0, 200) + "...";
  return message.empty() ? fmt::format("HTTP {}", status)
                         : fmt::format("HTTP {}: {}", status, message);
}

Result<std::unique_ptr<TusClient>> TusClient::Create() {
  auto libs = LoadHttpLibs();
  if (!libs) return libs.error();
  auto impl = std::make_unique<Impl>();
  impl->libs = *libs;
  impl->curl = impl->libs->easy_init();
  if (impl->curl == nullptr) return Fail(ErrorCode::kInternal, "libcurl could not make a handle");
  return std::unique_ptr<TusClient>(new TusClient(std::move(impl)));
}

TusClient::TusClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TusClient::~TusClient() = default;

Result<HttpReply> TusClient::Send(const std::string& method, const std::string& url,
                                  const std::vector<std::string>& headers, std::string_view body) {
  CURL* curl = impl_->curl;
  const HttpLibs& api = *impl_->libs;
  // Reset drops the options of the last request but keeps the connection for the next one.
  api.easy_reset(curl);
  HttpReply reply;
  Transfer transfer{&reply, &progress_};
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = api.slist_append(list, h.c_str());
  // No "Expect: 100-continue": a round trip per chunk for nothing, since we send the whole chunk
  // whatever the answer.
  list = api.slist_append(list, "Expect:");
  api.easy_setopt(curl, CURLOPT_URL, url.c_str());
  api.easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  api.easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  api.easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  api.easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  api.easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
  api.easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  api.easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  api.easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  api.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  // A stalled connection (less than 1 byte/s for 60 s) is a network error to retry, whatever the
  // chunk's size.
  api.easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  api.easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  if (rate_limit_ > 0) {
    api.easy_setopt(curl, CURLOPT_MAX_SEND_SPEED_LARGE, static_cast<curl_off_t>(rate_limit_));
  }
  if (method == "HEAD") {
    api.easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "GET") {
    api.easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else {
    api.easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    api.easy_setopt(curl, CURLOPT_POST, 1L);
    api.easy_setopt(curl, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
    api.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  const CURLcode code = api.easy_perform(curl);
  api.slist_free_all(list);
  if (transfer.stopped || code == CURLE_ABORTED_BY_CALLBACK) {
    return Fail(ErrorCode::kFailedPrecondition, "interrupted");
  }
  if (code != CURLE_OK) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("{} {}: {}", method, url, api.easy_strerror(code)));
  }
  api.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

std::string ResolveUrl(const std::string& base, const std::string& url) {
  if (url.starts_with("http://") || url.starts_with("https://")) return url;
  const auto scheme_end = base.find("://");
  const auto authority_end =
      scheme_end == std::string::npos ? std::string::npos : base.find('/', scheme_end + 3);
  const std::string origin = base.substr(0, authority_end);
  if (url.starts_with("/")) return origin + url;
  const std::string path = authority_end == std::string::npos ? "/" : base.substr(authority_end);
  return origin + path.substr(0, path.rfind('/') + 1) + url;
}

std::string Base64(std::string_view bytes) {
  const HttpLibs& api = RequireHttpLibs();
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = api.encode_block(reinterpret_cast<unsigned char*>(out.data()),
                                 reinterpret_cast<const unsigned char*>(bytes.data()),
                                 static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Sha1Checksum(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const HttpLibs& api = RequireHttpLibs();
  api.digest(bytes.data(), bytes.size(), digest, &length, api.sha1(), nullptr);
  return "sha1 " + Base64(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace sg::cli
