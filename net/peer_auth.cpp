#include "net/peer_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace g::net {

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 0xF];
  }
  return s;
}

}  // namespace

std::string make_challenge() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("no randomness for a challenge");
  return hex(buf, sizeof buf);
}

std::string prove(const std::string& cookie, const std::string& challenge, std::uint64_t prover, std::uint64_t verifier) {
  std::string msg = challenge + ":" + std::to_string(prover) + ":" + std::to_string(verifier);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), cookie.data(), static_cast<int>(cookie.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), mac, &len);
  return hex(mac, len);
}

bool verify(const std::string& cookie, const std::string& challenge, std::uint64_t prover, std::uint64_t verifier,
            const std::string& proof) {
  std::string expected = prove(cookie, challenge, prover, verifier);
  return proof.size() == expected.size() && CRYPTO_memcmp(proof.data(), expected.data(), expected.size()) == 0;
}

}  // namespace g::net
