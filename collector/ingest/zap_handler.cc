#include "collector/ingest/zap_handler.h"

#include <map>

#include "common/clock.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace custos::ingest {

ZapHandler::ZapHandler(zmq::context_t& ctx, AllowList& allow_list, MetricsRegistry& metrics)
    : ctx_(ctx),
      allow_list_(allow_list),
      accepted_(metrics.GetCounter("custos_collector_handshakes_accepted_total", "CURVE handshakes of enrolled agents")),
      refused_(metrics.GetCounter("custos_collector_handshakes_refused_total",
                                  "CURVE handshakes refused: key not enrolled or not CURVE")) {}

ZapHandler::~ZapHandler() { Stop(); }

Status ZapHandler::Start() {
  socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::rep);
  socket_->set(zmq::sockopt::linger, 0);
  try {
    socket_->bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Internal(std::string("binding the ZAP handler: ") + e.what());
  }
  Status s = allow_list_.Refresh(true);
  if (!s.ok()) log::Error("zap", "cannot read the enrolment directory", {{"error", s.ToString()}});
  thread_ = std::thread([this] {
    SetThreadName("zap");
    Run();
  });
  return Status::Ok();
}

void ZapHandler::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  socket_.reset();
}

void ZapHandler::Run() {
  std::map<std::string, int64_t> last_logged;  // key -> time of the last refusal log
  while (!stop_.load()) {
    zmq::pollitem_t item{socket_->handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(200));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> frames;
    zmq::message_t frame;
    do {
      if (!socket_->recv(frame, zmq::recv_flags::none)) break;
      frames.push_back(std::move(frame));
    } while (socket_->get(zmq::sockopt::rcvmore));
    // version, request_id, domain, address, identity, mechanism, credentials...
    std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
    std::string address = frames.size() > 3 ? frames[3].to_string() : "";
    std::string mechanism = frames.size() > 5 ? frames[5].to_string() : "";
    std::string status = "400", text = "not enrolled", user_id;
    std::string key_z85;
    if (frames.size() >= 7 && frames[0].to_string() == "1.0" && mechanism == "CURVE" && frames[6].size() == 32) {
      char z85[41];
      zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
      key_z85 = z85;
      Status s = allow_list_.Refresh();
      if (!s.ok()) log::Error("zap", "cannot refresh the enrolment directory", {{"error", s.ToString()}});
      if (auto node = allow_list_.NodeForKey(key_z85)) {
        status = "200";
        text = "OK";
        user_id = *node;
      }
    } else {
      text = "CURVE required";
    }
    if (status == "200") {
      accepted_.Increment();
    } else {
      refused_.Increment();
      int64_t now = Clock::Real().MonotonicNanos();
      int64_t& last = last_logged[key_z85];
      if (last == 0 || now - last > 60 * kNanosPerSecond) {
        last = now;
        log::Warn("zap", "refused connection: agent key not enrolled",
                  {{"peer", address}, {"mechanism", mechanism}, {"public_key", key_z85},
                   {"hint", "custosctl enroll --node NODE_ID --key AGENT.pub"}});
        if (on_refused_) on_refused_(key_z85, address);
      }
      if (last_logged.size() > 10000) last_logged.clear();  // bound the memory a key scan can cost
    }
    std::array<std::string, 6> reply = {"1.0", request_id, status, text, user_id, ""};
    for (size_t i = 0; i < reply.size(); ++i) {
      (void)socket_->send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore
                                                                    : zmq::send_flags::none);
    }
  }
}

}  // namespace custos::ingest
