// The server side of one Generate stream. The engine thread delivers generation events;
// they are merged under a small mutex into one pending message, and at most one write is
// in flight: the next starts when the previous completes (OnWriteDone) or, when none is in
// flight, from the event that produced it. Nothing here blocks.
//
// Lifetime: the reactor deletes itself once gRPC is done with it (OnDone) and the
// generation has delivered its final event, whichever comes last, so a late engine event
// never touches freed memory. Cancellation (client cancel, deadline, broken stream, server
// shutdown) cancels the generation at once, which frees its KV blocks.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>

#include "grpcpp/grpcpp.h"
#include "server/generation/generation_service.h"
#include "strata/v1/strata.pb.h"

namespace strata::server::grpc_api {

class GenerateReactor : public grpc::ServerWriteReactor<strata::v1::GenerateResponse> {
 public:
  // Submits `params` to `service`; if that fails, the call finishes with its status.
  static GenerateReactor* Start(GenerationService* service, GenerationParams params, bool logprobs);
  // A call that finishes at once with `status` (not OK).
  static GenerateReactor* Fail(const grpc::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  GenerateReactor(GenerationService* service, bool logprobs);
  ~GenerateReactor() override = default;

  void OnEvent(GenerationEvent event);  // engine thread
  // Starts the next write or the Finish if one is due. Called with `lock` held; releases
  // it before calling into gRPC.
  void Pump(std::unique_lock<std::mutex> lock);
  void CancelGeneration();
  void Unref();

  GenerationService* const service_;
  const bool logprobs_;
  std::atomic<int> refs_{2};  // gRPC's (until OnDone) and the generation's (final event)

  std::mutex mutex_;                        // guards everything below
  std::optional<scheduler::RequestId> id_;  // set once the generation started
  strata::v1::GenerateResponse writing_;    // owned by the write in flight
  strata::v1::GenerateResponse pending_;    // events not yet written, merged
  bool has_pending_ = false;
  bool write_in_flight_ = false;
  std::optional<grpc::Status> final_status_;  // the call's status once the last event came
  bool cancelled_ = false;
  bool finish_called_ = false;
};

}  // namespace strata::server::grpc_api
