// Answers one POST /v1/chat/completions or /v1/completions: validates and prepares the
// request (server/openai), starts its n x prompts generations, and turns their events into
// one JSON response or an SSE stream. Lives on the connection's strand; engine events arrive
// through the EventGate. Internal to server/http.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "server/generation/generation_service.h"
#include "server/http/event_gate.h"
#include "server/openai/api_error.h"
#include "server/openai/response_builder.h"

namespace strata::server::http {

struct ServerContext;
class HttpSession;
class ResponseSink;

// Parses `body`, starts the generations and attaches the exchange to `session`; or answers
// the error at once. Runs on the session's strand.
void HandleGeneration(const std::shared_ptr<HttpSession>& session, ServerContext& context,
                      const std::string& body, bool chat);

struct ExchangeSpec {
  bool chat = true;
  bool stream = false;
  bool include_usage = false;
  openai::LogprobsSpec logprobs;
  openai::ResponseMeta meta;
};

struct ChoiceSpec {
  GenerationParams params;
  int prompt_index = 0;
  std::string echo;  // text put before the completion (completions' echo)
};

class GenerationExchange : public EventTarget,
                           public std::enable_shared_from_this<GenerationExchange> {
 public:
  GenerationExchange(ExchangeSpec spec, GenerationService* service, std::shared_ptr<EventGate> gate,
                     std::shared_ptr<ResponseSink> sink);
  ~GenerationExchange() override;  // cancels generations still running

  // Starts every choice's generation; on failure cancels those started and answers the
  // error (429 queue full, 503 draining, ...). Returns whether the exchange is running.
  bool Start(std::vector<ChoiceSpec> choices);
  void OnGenerationEvent(int choice, GenerationEvent event) override;
  // The client went away: cancel everything, write nothing more.
  void Abort();

 private:
  struct Choice {
    ChoiceSpec spec;
    scheduler::RequestId id = -1;  // -1: not started
    bool finished = false;
    openai::ChoiceOutput output;
    int64_t completion_tokens = 0;
    int64_t text_offset = 0;  // completions logprobs, streaming
  };

  void StreamEvent(Choice& choice, const GenerationEvent& event);
  void Complete();
  void Fail(const openai::ApiError& error);
  void CancelRunning();
  void Release();  // stop receiving events and drop the sink
  openai::Usage TotalUsage() const;

  const ExchangeSpec spec_;
  GenerationService* service_;
  std::shared_ptr<EventGate> gate_;
  std::shared_ptr<ResponseSink> sink_;
  uint64_t gate_key_ = 0;
  std::vector<Choice> choices_;
  size_t finished_ = 0;
  bool streaming_ = false;  // the SSE header went out
  bool done_ = false;
};

}  // namespace strata::server::http
