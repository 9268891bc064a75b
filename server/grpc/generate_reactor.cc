#include "server/grpc/generate_reactor.h"

#include <utility>

#include "server/grpc/request_convert.h"

namespace strata::server::grpc_api {

GenerateReactor::GenerateReactor(GenerationService* service, bool logprobs)
    : service_(service), logprobs_(logprobs) {}

GenerateReactor* GenerateReactor::Start(GenerationService* service, GenerationParams params,
                                        bool logprobs) {
  auto* reactor = new GenerateReactor(service, logprobs);
  // The reactor is not bound to the call until the handler returns it; gRPC keeps writes
  // and Finish started before then and runs them once bound, so events may arrive at once.
  absl::StatusOr<scheduler::RequestId> id = service->Start(
      std::move(params), [reactor](GenerationEvent event) { reactor->OnEvent(std::move(event)); });
  if (!id.ok()) {
    std::unique_lock lock(reactor->mutex_);
    reactor->final_status_ = ToGrpcStatus(id.status());
    reactor->Pump(std::move(lock));
    reactor->Unref();  // no generation events will come
    return reactor;
  }
  std::lock_guard lock(reactor->mutex_);
  reactor->id_ = *id;
  return reactor;
}

GenerateReactor* GenerateReactor::Fail(const grpc::Status& status) {
  auto* reactor = new GenerateReactor(nullptr, false);
  reactor->finish_called_ = true;
  reactor->Finish(status);
  reactor->Unref();
  return reactor;
}

void GenerateReactor::OnEvent(GenerationEvent event) {
  std::unique_lock lock(mutex_);
  const bool last = !event.status.ok() || event.finish_reason.has_value();
  if (!cancelled_ && !finish_called_) {
    if (event.status.ok()) {
      AppendEvent(event, logprobs_, &pending_);
      has_pending_ = has_pending_ || last || !event.tokens.empty() || !event.text_delta.empty();
    }
  }
  if (last) final_status_ = event.status.ok() ? grpc::Status::OK : ToGrpcStatus(event.status);
  Pump(std::move(lock));
  if (last) Unref();  // the generation calls back no more
}

void GenerateReactor::Pump(std::unique_lock<std::mutex> lock) {
  if (finish_called_ || write_in_flight_) return;
  if (cancelled_) {
    finish_called_ = true;
    lock.unlock();
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
    return;
  }
  if (has_pending_) {
    writing_.Swap(&pending_);
    pending_.Clear();
    has_pending_ = false;
    if (final_status_ && final_status_->ok()) {
      // The last message: send it together with the call's status (no OnWriteDone).
      finish_called_ = true;
      lock.unlock();
      StartWriteAndFinish(&writing_, grpc::WriteOptions(), grpc::Status::OK);
      return;
    }
    write_in_flight_ = true;
    lock.unlock();
    StartWrite(&writing_);
    return;
  }
  if (final_status_) {
    finish_called_ = true;
    const grpc::Status status = *final_status_;
    lock.unlock();
    Finish(status);
  }
}

void GenerateReactor::OnWriteDone(bool ok) {
  std::unique_lock lock(mutex_);
  write_in_flight_ = false;
  if (!ok && !cancelled_) {
    // The stream broke (the client went away): stop generating for it.
    cancelled_ = true;
    lock.unlock();
    CancelGeneration();
    lock.lock();
  }
  Pump(std::move(lock));
}

void GenerateReactor::OnCancel() {
  std::unique_lock lock(mutex_);
  const bool first = !cancelled_;
  cancelled_ = true;
  lock.unlock();
  if (first) CancelGeneration();
  lock.lock();
  Pump(std::move(lock));
}

void GenerateReactor::CancelGeneration() {
  std::optional<scheduler::RequestId> id;
  bool finished;
  {
    std::lock_guard lock(mutex_);
    id = id_;
    finished = final_status_.has_value();
  }
  if (id && !finished) service_->Cancel(*id);
}

void GenerateReactor::OnDone() { Unref(); }

void GenerateReactor::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace strata::server::grpc_api
