#include "daemon/plugin_api/catalogue_rpc.h"

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "daemon/plugin_api/catalogue_json.h"
#include "daemon/plugin_api/rpc_frame.h"

namespace sg {
namespace {

using nlohmann::json;

constexpr const char* kService = "metadata service";

Result<Video> VideoOf(const json& header) {
  const auto it = header.find("video");
  if (it == header.end()) {
    return Fail(ErrorCode::kInternal, std::string(kService) + ": a reply without a video");
  }
  auto video = VideoFromJson(*it);
  if (!video)
    return Fail(ErrorCode::kInternal, std::string(kService) + ": " + video.error().message);
  return video;
}

class RemoteCatalogue final : public Catalogue {
 public:
  RemoteCatalogue(Bus& bus, std::chrono::milliseconds timeout) : bus_(bus), timeout_(timeout) {}

  Result<Video> Create(const NewVideo& v) override {
    return CallForVideo({{"op", "create"},
                         {"title", v.title},
                         {"description", v.description},
                         {"owner", v.owner},
                         {"visibility", std::string(VisibilityName(v.visibility))},
                         {"source_size", v.source_size},
                         {"source_type", v.source_type},
                         {"source_key", v.source_key},
                         {"id", v.id}});
  }

  Result<Video> Get(const std::string& id) override {
    return CallForVideo({{"op", "get"}, {"id", id}});
  }

  Result<VideoPage> List(const VideoQuery& q) override {
    json header = {{"op", "list"},
                   {"include_deleted", q.include_deleted},
                   {"cursor", q.cursor},
                   {"limit", q.limit}};
    if (q.state) header["state"] = std::string(VideoStateName(*q.state));
    if (q.owner) header["owner"] = *q.owner;
    auto reply = rpc::Call(bus_, kCatalogueRpcSubject, kService, header, {}, timeout_);
    if (!reply) return reply.error();
    const auto videos = reply->header.find("videos");
    if (videos == reply->header.end() || !videos->is_array()) {
      return Fail(ErrorCode::kInternal, std::string(kService) + ": a reply without videos");
    }
    VideoPage page;
    for (const auto& v : *videos) {
      auto video = VideoFromJson(v);
      if (!video) {
        return Fail(ErrorCode::kInternal, std::string(kService) + ": " + video.error().message);
      }
      page.videos.push_back(std::move(*video));
    }
    if (const auto c = reply->header.find("next_cursor");
        c != reply->header.end() && c->is_string()) {
      page.next_cursor = c->get<std::string>();
    }
    return page;
  }

  Result<Video> Edit(const std::string& id, const VideoEdit& e) override {
    json header = {{"op", "edit"}, {"id", id}};
    if (e.title) header["title"] = *e.title;
    if (e.description) header["description"] = *e.description;
    if (e.visibility) header["visibility"] = std::string(VisibilityName(*e.visibility));
    if (e.gate) header["gate"] = *e.gate;
    return CallForVideo(header);
  }

  Result<Video> Transition(const std::string& id, const VideoTransition& t) override {
    json header = {{"op", "transition"}, {"id", id}, {"to", std::string(VideoStateName(t.to))}};
    if (t.failure_reason) header["failure_reason"] = *t.failure_reason;
    if (t.duration) header["duration"] = *t.duration;
    if (t.renditions) {
      json renditions = json::array();
      for (const auto& r : *t.renditions) renditions.push_back(RenditionToJson(r));
      header["renditions"] = std::move(renditions);
    }
    if (t.poster) header["poster"] = *t.poster;
    if (t.source_size) header["source_size"] = *t.source_size;
    if (t.source_type) header["source_type"] = *t.source_type;
    if (t.source_key) header["source_key"] = *t.source_key;
    return CallForVideo(header);
  }

  Result<Video> SetProgress(const std::string& id, const std::string& progress) override {
    return CallForVideo({{"op", "progress"}, {"id", id}, {"progress", progress}});
  }

 private:
  Result<Video> CallForVideo(const json& header) {
    auto reply = rpc::Call(bus_, kCatalogueRpcSubject, kService, header, {}, timeout_);
    if (!reply) return reply.error();
    return VideoOf(reply->header);
  }

  Bus& bus_;
  const std::chrono::milliseconds timeout_;
};

// The server's side: a request's fields, checked for type, since any process on the bus may send
// one.
class Request {
 public:
  explicit Request(const json& header) : header_(header) {}

  Result<std::string> String(const char* name, bool required = true) const {
    const auto it = header_.find(name);
    if (it == header_.end() || it->is_null()) {
      if (required) return Fail(ErrorCode::kInvalidArgument, std::string(name) + ": missing");
      return std::string();
    }
    if (!it->is_string()) {
      return Fail(ErrorCode::kInvalidArgument, std::string(name) + ": must be a string");
    }
    return it->get<std::string>();
  }
  bool Has(const char* name) const {
    const auto it = header_.find(name);
    return it != header_.end() && !it->is_null();
  }
  Result<int64_t> Int(const char* name) const {
    const auto it = header_.find(name);
    if (it == header_.end() || !it->is_number_integer()) {
      return Fail(ErrorCode::kInvalidArgument, std::string(name) + ": must be a whole number");
    }
    return it->get<int64_t>();
  }
  Result<Visibility> VisibilityField() const {
    auto name = String("visibility");
    if (!name) return name.error();
    const auto v = ParseVisibility(*name);
    if (!v) return Fail(ErrorCode::kInvalidArgument, "visibility: unknown '" + *name + "'");
    return *v;
  }
  const json& header() const { return header_; }

 private:
  const json& header_;
};

std::string Reply(const Result<Video>& video) {
  if (!video) return rpc::Encode(rpc::ErrorHeader(video.error()));
  return rpc::Encode({{"ok", true}, {"video", VideoToJson(*video)}});
}

Result<Video> DoCreate(Catalogue& catalogue, const Request& r) {
  NewVideo v;
  for (auto [name, out] : {std::pair{"title", &v.title}, std::pair{"description", &v.description},
                           std::pair{"owner", &v.owner}, std::pair{"source_type", &v.source_type},
                           std::pair{"source_key", &v.source_key}, std::pair{"id", &v.id}}) {
    auto s = r.String(name, false);
    if (!s) return s.error();
    *out = std::move(*s);
  }
  if (r.Has("visibility")) {
    auto vis = r.VisibilityField();
    if (!vis) return vis.error();
    v.visibility = *vis;
  }
  if (r.Has("source_size")) {
    auto size = r.Int("source_size");
    if (!size) return size.error();
    v.source_size = *size;
  }
  return catalogue.Create(v);
}

Result<Video> DoEdit(Catalogue& catalogue, const Request& r, const std::string& id) {
  VideoEdit e;
  if (r.Has("title")) {
    auto s = r.String("title");
    if (!s) return s.error();
    e.title = std::move(*s);
  }
  if (r.Has("description")) {
    auto s = r.String("description");
    if (!s) return s.error();
    e.description = std::move(*s);
  }
  if (r.Has("visibility")) {
    auto vis = r.VisibilityField();
    if (!vis) return vis.error();
    e.visibility = *vis;
  }
  if (r.Has("gate")) {
    auto s = r.String("gate");
    if (!s) return s.error();
    e.gate = std::move(*s);
  }
  return catalogue.Edit(id, e);
}

Result<Video> DoTransition(Catalogue& catalogue, const Request& r, const std::string& id) {
  VideoTransition t;
  auto to = r.String("to");
  if (!to) return to.error();
  const auto state = ParseVideoState(*to);
  if (!state) return Fail(ErrorCode::kInvalidArgument, "to: unknown state '" + *to + "'");
  t.to = *state;
  for (auto [name, out] :
       {std::pair{"failure_reason", &t.failure_reason}, std::pair{"poster", &t.poster},
        std::pair{"source_type", &t.source_type}, std::pair{"source_key", &t.source_key}}) {
    if (!r.Has(name)) continue;
    auto s = r.String(name);
    if (!s) return s.error();
    *out = std::move(*s);
  }
  if (r.Has("duration")) {
    const auto& d = r.header()["duration"];
    if (!d.is_number()) return Fail(ErrorCode::kInvalidArgument, "duration: must be a number");
    t.duration = d.get<double>();
  }
  if (r.Has("source_size")) {
    auto size = r.Int("source_size");
    if (!size) return size.error();
    t.source_size = *size;
  }
  if (r.Has("renditions")) {
    const auto& list = r.header()["renditions"];
    if (!list.is_array()) return Fail(ErrorCode::kInvalidArgument, "renditions: must be an array");
    t.renditions.emplace();
    for (size_t i = 0; i < list.size(); ++i) {
      auto rendition = RenditionFromJson(list[i], "renditions[" + std::to_string(i) + "]");
      if (!rendition) return rendition.error();
      t.renditions->push_back(std::move(*rendition));
    }
  }
  return catalogue.Transition(id, t);
}

std::string DoList(Catalogue& catalogue, const Request& r) {
  VideoQuery q;
  auto fail = [](const Error& e) { return rpc::Encode(rpc::ErrorHeader(e)); };
  if (r.Has("state")) {
    auto name = r.String("state");
    if (!name) return fail(name.error());
    const auto state = ParseVideoState(*name);
    if (!state) return fail({ErrorCode::kInvalidArgument, "state: unknown '" + *name + "'"});
    q.state = *state;
  }
  if (r.Has("owner")) {
    auto owner = r.String("owner");
    if (!owner) return fail(owner.error());
    q.owner = std::move(*owner);
  }
  auto cursor = r.String("cursor", false);
  if (!cursor) return fail(cursor.error());
  q.cursor = std::move(*cursor);
  if (r.Has("limit")) {
    auto limit = r.Int("limit");
    if (!limit) return fail(limit.error());
    if (*limit < 1 || *limit > kMaxPageSize) {
      return fail({ErrorCode::kInvalidArgument,
                   "limit: must be from 1 to " + std::to_string(kMaxPageSize)});
    }
    q.limit = static_cast<int>(*limit);
  }
  if (r.Has("include_deleted")) {
    const auto& d = r.header()["include_deleted"];
    if (!d.is_boolean())
      return fail({ErrorCode::kInvalidArgument, "include_deleted: must be true or false"});
    q.include_deleted = d.get<bool>();
  }
  auto page = catalogue.List(q);
  if (!page) return fail(page.error());
  json videos = json::array();
  for (const auto& v : page->videos) videos.push_back(VideoToJson(v));
  return rpc::Encode(
      {{"ok", true}, {"videos", std::move(videos)}, {"next_cursor", page->next_cursor}});
}

std::string Answer(Catalogue& catalogue, const std::string& bytes) {
  rpc::Frame frame;
  if (!rpc::Decode(bytes, frame)) {
    return rpc::Encode(rpc::ErrorHeader({ErrorCode::kInvalidArgument, "not a catalogue request"}));
  }
  const Request r(frame.header);
  auto op = r.String("op");
  if (!op) return rpc::Encode(rpc::ErrorHeader(op.error()));
  if (*op == "create") return Reply(DoCreate(catalogue, r));
  if (*op == "list") return DoList(catalogue, r);
  auto id = r.String("id");
  if (!id) return rpc::Encode(rpc::ErrorHeader(id.error()));
  if (*op == "get") return Reply(catalogue.Get(*id));
  if (*op == "edit") return Reply(DoEdit(catalogue, r, *id));
  if (*op == "transition") return Reply(DoTransition(catalogue, r, *id));
  if (*op == "progress") {
    auto progress = r.String("progress");
    if (!progress) return rpc::Encode(rpc::ErrorHeader(progress.error()));
    return Reply(catalogue.SetProgress(*id, *progress));
  }
  return rpc::Encode(rpc::ErrorHeader({ErrorCode::kInvalidArgument, "unknown op '" + *op + "'"}));
}

}  // namespace

std::shared_ptr<Catalogue> MakeRemoteCatalogue(Bus& bus, std::chrono::milliseconds timeout) {
  return std::make_shared<RemoteCatalogue>(bus, timeout);
}

Result<Bus::SubscriptionId> ServeCatalogue(Bus& bus, const std::shared_ptr<Catalogue>& catalogue,
                                           BlockingPool& blocking) {
  return rpc::Serve(
      bus, kCatalogueRpcSubject, kService,
      [&blocking](std::function<void()> work) { return blocking.Submit(std::move(work)); },
      [catalogue](const std::string& request) { return Answer(*catalogue, request); });
}

}  // namespace sg
