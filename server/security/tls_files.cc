#include "server/security/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "server/security/secret_file.h"

namespace strata::server::security {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Never prompts for a passphrase: an encrypted key simply fails to load.
int NoPassphrase(char*, int, int, void*) { return 0; }

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of `pem`, and how many there are.
Cert FirstCertificate(const std::string& pem, int* count) {
  Bio bio = MemoryBio(pem);
  Cert first;
  *count = 0;
  while (Cert cert{PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)}) {
    if (*count == 0) first = std::move(cert);
    ++*count;
  }
  ERR_clear_error();  // the end of input reads as an error
  return first;
}

absl::Status Invalid(std::string_view key, const std::string& path, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(key), ": '", path, "' ", std::string(why)));
}

}  // namespace

absl::StatusOr<std::optional<TlsFiles>> LoadTlsFiles(const config::ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "server.tls_client_ca_file: mutual TLS needs server.tls_cert_file and "
          "server.tls_key_file too");
    }
    return std::optional<TlsFiles>();
  }
  if (options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "server.tls_cert_file: required when server.tls_key_file is set");
  }
  if (options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "server.tls_key_file: required when server.tls_cert_file is set");
  }
  TlsFiles files;
  absl::StatusOr<std::string> chain = ReadSecretFile("server.tls_cert_file", options.tls_cert_file);
  if (!chain.ok()) return chain.status();
  files.cert_chain_pem = std::move(*chain);
  int count = 0;
  Cert leaf = FirstCertificate(files.cert_chain_pem, &count);
  if (leaf == nullptr) {
    return Invalid("server.tls_cert_file", options.tls_cert_file,
                   "holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
  }

  absl::StatusOr<std::string> key = ReadSecretFile("server.tls_key_file", options.tls_key_file);
  if (!key.ok()) return key.status();
  files.private_key_pem = std::move(*key);
  Bio key_bio = MemoryBio(files.private_key_pem);
  Pkey pkey{PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr)};
  ERR_clear_error();
  if (pkey == nullptr) {
    return Invalid("server.tls_key_file", options.tls_key_file,
                   "holds no unencrypted PEM private key");
  }
  if (X509_check_private_key(leaf.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "server.tls_key_file: the private key in '", options.tls_key_file,
        "' does not match the certificate in server.tls_cert_file '", options.tls_cert_file, "'"));
  }

  if (!options.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadSecretFile("server.tls_client_ca_file", options.tls_client_ca_file);
    if (!ca.ok()) return ca.status();
    files.client_ca_pem = std::move(*ca);
    if (FirstCertificate(files.client_ca_pem, &count) == nullptr) {
      return Invalid("server.tls_client_ca_file", options.tls_client_ca_file,
                     "holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
  }
  return std::optional<TlsFiles>(std::move(files));
}

}  // namespace strata::server::security
