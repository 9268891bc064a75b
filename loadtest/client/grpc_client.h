// The Strata gRPC client: each request is one strata.v1.Strata/Generate server stream on a
// shared channel (HTTP/2 multiplexes them). Messages are timestamped with steady_clock on
// gRPC's callback threads as they are read; the outcome is posted to the runner's io_context.
// Send() and CancelAll() may be called from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "loadtest/client/outcome.h"

namespace grpc {
class Channel;
}

namespace strata::loadtest {

struct GrpcClientOptions {
  std::string target;   // "host:port"
  std::string api_key;  // sent as "authorization: Bearer KEY" metadata when not empty
  std::string model;    // GenerateRequest.model ("" = the served model)
  bool ignore_eos = true;
  std::optional<double> temperature;
  double request_timeout_s = 600;
};

class GenerateCall;

class StrataGrpcClient : public Client {
 public:
  StrataGrpcClient(boost::asio::io_context& io, GrpcClientOptions options);
  ~StrataGrpcClient() override;

  void Send(const RequestSpec& spec, std::function<void(Outcome)> done) override;
  void CancelAll() override;

  // ListModels on the channel, waiting up to `timeout_s` for it to connect: the served
  // model's name, or an error.
  absl::StatusOr<std::string> ServedModel(double timeout_s);

 private:
  friend class GenerateCall;
  void Forget(GenerateCall* call);

  boost::asio::io_context& io_;
  GrpcClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  struct StubHolder;
  std::unique_ptr<StubHolder> stub_;
  std::recursive_mutex mutex_;                // recursive: TryCancel may finish a call inline
  std::unordered_set<GenerateCall*> active_;  // guarded by mutex_
};

}  // namespace strata::loadtest
