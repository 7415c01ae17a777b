#include "collector/api/http_api.h"

#include <httplib.h>

#include <chrono>
#include <ctime>

#include "common/config.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace custos::api {

Result<int64_t> ParseTimeArg(const std::string& text, int64_t now) {
  if (text.empty()) return InvalidArgument("empty time");
  if (text == "now") return now;
  bool all_digits = text.find_first_not_of("0123456789") == std::string::npos;
  if (all_digits) {
    if (text.size() > 11) {
      return InvalidArgument("'" + text + "' is too large for Unix seconds (milliseconds? use 2026-11-26T14:00:00Z)");
    }
    return static_cast<int64_t>(std::stoll(text)) * kNanosPerSecond;
  }
  if (text.find('T') != std::string::npos || text.find('-') != std::string::npos) {
    tm t{};
    const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &t);
    if (end == nullptr) end = strptime(text.c_str(), "%Y-%m-%d", &t);
    if (end == nullptr || (*end != '\0' && *end != 'Z')) {
      return InvalidArgument("'" + text + "' is not a time (use 2026-11-26T14:00:00Z, Unix seconds, or 15m)");
    }
    return static_cast<int64_t>(timegm(&t)) * kNanosPerSecond;
  }
  auto d = ParseDuration(text);
  if (!d.ok()) return InvalidArgument("'" + text + "' is not a time (use 2026-11-26T14:00:00Z, Unix seconds, or 15m)");
  return now - *d;
}

HttpApi::HttpApi(ApiOptions options, store::Store& store, MetricsRegistry& metrics, Clock& clock)
    : options_(std::move(options)),
      store_(store),
      metrics_(metrics),
      clock_(clock),
      started_unix_nanos_(clock.NowUnixNanos()) {}

HttpApi::~HttpApi() { Stop(); }

Status HttpApi::Start() {
  server_ = std::make_unique<httplib::Server>();
  // httplib sets SO_REUSEPORT by default, which would let a second process
  // bind the same port and silently take half the requests.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // httplib (0.11) waits for a kept-alive connection's next request by
  // polling 10 ms and sleeping 1 ms in a loop, about 90 wake-ups a second
  // for each idle connection (a Prometheus scraper's, say). API requests are
  // few, so each connection serves one request and closes.
  server_->set_keep_alive_max_count(1);
  Routes();
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
  } else {
    port_ = server_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    return Unavailable("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                       " (in use? set api.listen)");
  }
  thread_ = std::thread([this] {
    SetThreadName("http-api");
    server_->listen_after_bind();
    listen_returned_ = true;
  });
  // httplib's stop() does nothing until listen_after_bind() has begun, so a
  // Stop() soon after Start() would leave the thread listening and the join
  // waiting for ever (seen on a loaded machine): return once it serves.
  for (int i = 0; i < 10'000 && !server_->is_running() && !listen_returned_; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  log::Info("api", "listening", {{"address", options_.host + ":" + std::to_string(port_)}});
  return Status::Ok();
}

void HttpApi::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

void HttpApi::Routes() {
  auto send_json = [](httplib::Response& res, const nlohmann::json& j, int status = 200) {
    res.status = status;
    res.set_content(j.dump(), "application/json");
  };
  auto send_error = [send_json](httplib::Response& res, const Status& s) {
    int code = s.code() == StatusCode::kInvalidArgument ? 400 : (s.code() == StatusCode::kUnavailable ? 503 : 500);
    send_json(res, {{"error", s.ToString()}}, code);
  };

  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.RenderPrometheus(), "text/plain; version=0.0.4");
  });
  server_->Get("/api/v1/status", [this, send_json, send_error](const httplib::Request&, httplib::Response& res) {
    auto agents = store_.Agents();
    if (!agents.ok()) return send_error(res, agents.status());
    auto counts = store_.Counts();
    if (!counts.ok()) return send_error(res, counts.status());
    int64_t now = clock_.NowUnixNanos();
    for (nlohmann::json& a : *agents) {
      int64_t last_seen = a.value("last_seen", int64_t{0});
      a["connected"] = now - last_seen <= options_.agent_connected_within_nanos;
      int64_t created = a.value("last_batch_created", int64_t{0});
      if (created > 0) a["lag_seconds"] = static_cast<double>(now - created) / 1e9;
    }
    nlohmann::json counters = nlohmann::json::object();
    for (const auto& [name, value] : metrics_.Snapshot()) counters[name] = value;
    send_json(res, {{"collector", {{"version", CUSTOS_VERSION}, {"started", started_unix_nanos_}, {"now", now},
                                   {"counters", counters}, {"records", *counts}}},
                    {"agents", *agents}});
  });
  server_->Post("/api/v1/audit/erase", [this, send_json, send_error](const httplib::Request& req,
                                                                     httplib::Response& res) {
    std::string subject = req.get_param_value("subject");
    std::string actor = req.has_param("actor") ? req.get_param_value("actor") : "operator";
    if (subject.empty()) return send_error(res, InvalidArgument("subject is required"));
    if (!erase_) return send_error(res, Unavailable("erasure is not available (audit log disabled)"));
    auto result = erase_(subject, actor);
    if (!result.ok()) return send_error(res, result.status());
    send_json(res, *result);
  });
  server_->Get("/api/v1/silences", [this, send_json, send_error](const httplib::Request&, httplib::Response& res) {
    if (!silences_) return send_error(res, Unavailable("silences are not available"));
    int64_t now = clock_.NowUnixNanos();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : silences_->List(now)) out.push_back(s.ToJson(now));
    send_json(res, {{"silences", out}});
  });
  server_->Post("/api/v1/silences", [this, send_json, send_error](const httplib::Request& req,
                                                                  httplib::Response& res) {
    if (!silences_) return send_error(res, Unavailable("silences are not available"));
    std::vector<collector::Matcher> matchers;
    for (size_t i = 0; i < req.get_param_value_count("match"); ++i) {
      auto m = collector::ParseMatcher(req.get_param_value("match", i));
      if (!m.ok()) return send_error(res, m.status());
      matchers.push_back(std::move(*m));
    }
    int64_t now = clock_.NowUnixNanos();
    auto duration = ParseDuration(req.has_param("duration") ? req.get_param_value("duration") : "2h");
    if (!duration.ok() || *duration <= 0) return send_error(res, InvalidArgument("duration: a duration such as 2h"));
    std::string actor = req.has_param("actor") ? req.get_param_value("actor") : "operator";
    auto s = silences_->Add(std::move(matchers), now, now + *duration, actor, req.get_param_value("comment"));
    if (!s.ok()) return send_error(res, s.status());
    if (on_silence_change_) on_silence_change_("add", *s, actor);
    send_json(res, s->ToJson(now));
  });
  server_->Post("/api/v1/silences/expire", [this, send_json, send_error](const httplib::Request& req,
                                                                         httplib::Response& res) {
    if (!silences_) return send_error(res, Unavailable("silences are not available"));
    int64_t id = std::atoll(req.get_param_value("id").c_str());
    std::string actor = req.has_param("actor") ? req.get_param_value("actor") : "operator";
    int64_t now = clock_.NowUnixNanos();
    auto s = silences_->Expire(id, now, actor);
    if (!s.ok()) {
      return send_json(res, {{"error", s.status().ToString()}}, s.status().code() == StatusCode::kNotFound ? 404 : 500);
    }
    if (on_silence_change_) on_silence_change_("expire", *s, actor);
    send_json(res, s->ToJson(now));
  });
  server_->Get("/api/v1/query", [this, send_json, send_error](const httplib::Request& req, httplib::Response& res) {
    store::RecordQuery q;
    int64_t now = clock_.NowUnixNanos();
    q.kind = req.has_param("kind") ? req.get_param_value("kind") : "metrics";
    q.node = req.get_param_value("node");
    q.name = req.get_param_value("name");
    if (req.has_param("since")) {
      auto t = ParseTimeArg(req.get_param_value("since"), now);
      if (!t.ok()) return send_error(res, t.status().WithContext("since"));
      q.since_unix_nanos = *t;
    }
    if (req.has_param("until")) {
      auto t = ParseTimeArg(req.get_param_value("until"), now);
      if (!t.ok()) return send_error(res, t.status().WithContext("until"));
      q.until_unix_nanos = *t;
    }
    if (req.has_param("limit")) {
      const std::string l = req.get_param_value("limit");
      if (l.empty() || l.size() > 7 || l.find_first_not_of("0123456789") != std::string::npos) {
        return send_error(res, InvalidArgument("limit must be a number up to 1000000"));
      }
      q.limit = std::stoi(l);
    }
    auto rows = store_.Query(q);
    if (!rows.ok()) return send_error(res, rows.status());
    send_json(res, {{"kind", q.kind}, {"records", *rows}});
  });
}

}  // namespace custos::api
