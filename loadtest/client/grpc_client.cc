#include "loadtest/client/grpc_client.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "grpcpp/grpcpp.h"
#include "strata/v1/strata.grpc.pb.h"

namespace strata::loadtest {

struct StrataGrpcClient::StubHolder {
  std::unique_ptr<strata::v1::Strata::Stub> stub;
};

namespace {

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat(static_cast<int>(code));
  }
}

std::string FinishName(strata::v1::FinishReason reason) {
  switch (reason) {
    case strata::v1::FINISH_REASON_STOP:
      return "stop";
    case strata::v1::FINISH_REASON_LENGTH:
      return "length";
    case strata::v1::FINISH_REASON_ABORT:
      return "abort";
    default:
      return "";
  }
}

std::chrono::system_clock::time_point DeadlineAfter(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             std::chrono::duration<double>(seconds));
}

}  // namespace

// One Generate stream. Deletes itself in OnDone, after posting its outcome.
class GenerateCall : public grpc::ClientReadReactor<strata::v1::GenerateResponse> {
 public:
  GenerateCall(StrataGrpcClient* client, const RequestSpec& spec, std::function<void(Outcome)> done)
      : client_(client), done_(std::move(done)) {
    const GrpcClientOptions& o = client->options_;
    request_.set_model(o.model);
    if (!spec.prompt_ids.empty()) {
      for (int32_t id : spec.prompt_ids) request_.mutable_token_ids()->add_ids(id);
    } else {
      request_.set_text(spec.prompt);
    }
    request_.set_max_tokens(spec.output_len);
    request_.set_ignore_eos(o.ignore_eos);
    if (o.temperature)
      request_.mutable_sampling()->set_temperature(static_cast<float>(*o.temperature));
    if (!o.api_key.empty()) context_.AddMetadata("authorization", "Bearer " + o.api_key);
    context_.set_deadline(DeadlineAfter(o.request_timeout_s));
  }

  void Begin() {
    outcome_.sent = Clock::now();
    client_->stub_->stub->async()->Generate(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void Cancel() {
    cancelled_ = true;
    context_.TryCancel();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    const auto now = Clock::now();
    if (response_.token_ids_size() > 0) {
      outcome_.chunk_times.push_back(now);
      outcome_.chunk_tokens.push_back(response_.token_ids_size());
    }
    if (response_.has_usage()) {
      outcome_.prompt_tokens = response_.usage().prompt_tokens();
      outcome_.completion_tokens = response_.usage().completion_tokens();
    }
    if (response_.finish_reason() != strata::v1::FINISH_REASON_UNSPECIFIED) {
      outcome_.finish_reason = FinishName(response_.finish_reason());
      last_time_ = now;
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    outcome_.finished = outcome_.finish_reason.empty() ? Clock::now() : last_time_;
    if (!status.ok()) {
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        outcome_.error_kind = "timeout";
      } else if (status.error_code() == grpc::StatusCode::CANCELLED && cancelled_) {
        outcome_.error_kind = "deadline";
      } else {
        outcome_.error_kind = "grpc_" + CodeName(status.error_code());
      }
      outcome_.error_message = status.error_message();
    } else if (outcome_.finish_reason.empty()) {
      outcome_.error_kind = "truncated";
      outcome_.error_message = "the stream ended without a finish reason";
    } else if (outcome_.finish_reason == "abort") {
      outcome_.error_kind = "aborted";
      outcome_.error_message = "the server aborted the request";
    }
    // Post before Forget: once forgotten, the client may be destroyed at any moment.
    boost::asio::post(client_->io_,
                      [done = std::move(done_), outcome = std::move(outcome_)]() mutable {
                        done(std::move(outcome));
                      });
    client_->Forget(this);
    delete this;
  }

 private:
  StrataGrpcClient* client_;
  std::function<void(Outcome)> done_;
  grpc::ClientContext context_;
  strata::v1::GenerateRequest request_;
  strata::v1::GenerateResponse response_;
  Outcome outcome_;
  Clock::time_point last_time_;
  std::atomic<bool> cancelled_{false};
};

StrataGrpcClient::StrataGrpcClient(boost::asio::io_context& io, GrpcClientOptions options)
    : io_(io), options_(std::move(options)), stub_(std::make_unique<StubHolder>()) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(options_.target, grpc::InsecureChannelCredentials(), args);
  stub_->stub = strata::v1::Strata::NewStub(channel_);
}

StrataGrpcClient::~StrataGrpcClient() {
  CancelAll();
  // Calls delete themselves when gRPC finishes them; wait for that.
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mutex_);
      if (active_.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void StrataGrpcClient::Send(const RequestSpec& spec, std::function<void(Outcome)> done) {
  auto* call = new GenerateCall(this, spec, std::move(done));
  {
    std::lock_guard lock(mutex_);
    active_.insert(call);
  }
  call->Begin();
}

void StrataGrpcClient::CancelAll() {
  // Under the lock no call can delete itself (OnDone waits in Forget), except one that
  // TryCancel finishes inline on this thread: hence a copy and a recursive mutex.
  std::lock_guard lock(mutex_);
  const std::vector<GenerateCall*> calls(active_.begin(), active_.end());
  for (GenerateCall* call : calls) {
    if (active_.count(call)) call->Cancel();
  }
}

void StrataGrpcClient::Forget(GenerateCall* call) {
  std::lock_guard lock(mutex_);
  active_.erase(call);
}

absl::StatusOr<std::string> StrataGrpcClient::ServedModel(double timeout_s) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineAfter(timeout_s));
  context.set_wait_for_ready(true);
  if (!options_.api_key.empty()) context.AddMetadata("authorization", "Bearer " + options_.api_key);
  strata::v1::ListModelsResponse response;
  const grpc::Status status =
      stub_->stub->ListModels(&context, strata::v1::ListModelsRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("ListModels on ", options_.target, ": ",
                                               CodeName(status.error_code()), ": ",
                                               status.error_message()));
  }
  if (response.models_size() == 0) return absl::NotFoundError("the server lists no model");
  return response.models(0).name();
}

}  // namespace strata::loadtest
