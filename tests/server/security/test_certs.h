// Throwaway TLS material for server tests: make_test_certs.sh (the openssl CLI) writes a CA,
// a server certificate for localhost/127.0.0.1, a client certificate and a rogue CA's client
// certificate into a fresh temporary directory, removed with the object. Also small helpers
// for files the tests write (API key files).
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace strata::server::testing {

// A fresh temporary directory, removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("strata-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Writes `text` to `name` and returns its path.
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(File(name), std::ios::binary) << text;
    return File(name);
  }

 private:
  std::string path_;
};

class TestCerts {
 public:
  TestCerts() {
    const char* source = std::getenv("STRATA_SOURCE_DIR");
    const std::string script =
        std::string(source != nullptr ? source : ".") + "/tests/server/security/make_test_certs.sh";
    const std::string command =
        "'" + script + "' '" + dir_.path() + "' > '" + dir_.File("log") + "' 2>&1";
    if (std::system(command.c_str()) != 0) {
      std::ifstream log(dir_.File("log"));
      std::stringstream text;
      text << log.rdbuf();
      error_ = "make_test_certs.sh failed: " + text.str();
    }
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // ca.pem, server.pem, server.key, client.pem, client.key, rogue-ca.pem, rogue-client.pem, ...
  std::string Path(const std::string& name) const { return dir_.File(name); }
  std::string Read(const std::string& name) const {
    std::ifstream in(Path(name), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string error_;
};

}  // namespace strata::server::testing
