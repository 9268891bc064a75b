// STRATA_CHECK: aborts with file and line when an invariant is broken. For programming
// errors only; recoverable outcomes are values and failures are absl::Status.
#pragma once

#include <sstream>
#include <string>

namespace strata::internal {

// Collects a message with operator<< and aborts in its destructor.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Lets `STRATA_CHECK(x) << ...` be a void expression in both branches of ?:.
struct Voidify {
  void operator&(const CheckFailure&) {}
};

}  // namespace strata::internal

#define STRATA_CHECK(condition)                 \
  (condition) ? (void)0                         \
              : ::strata::internal::Voidify() & \
                    ::strata::internal::CheckFailure(__FILE__, __LINE__, #condition)

#define STRATA_CHECK_OP(a, op, b) STRATA_CHECK((a)op(b)) << "(" << (a) << " vs " << (b) << ") "
#define STRATA_CHECK_EQ(a, b) STRATA_CHECK_OP(a, ==, b)
#define STRATA_CHECK_NE(a, b) STRATA_CHECK_OP(a, !=, b)
#define STRATA_CHECK_LT(a, b) STRATA_CHECK_OP(a, <, b)
#define STRATA_CHECK_LE(a, b) STRATA_CHECK_OP(a, <=, b)
#define STRATA_CHECK_GT(a, b) STRATA_CHECK_OP(a, >, b)
#define STRATA_CHECK_GE(a, b) STRATA_CHECK_OP(a, >=, b)
