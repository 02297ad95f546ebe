#include "net/peer_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "net/hex.hpp"

namespace g::net {


std::string make_challenge() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("no randomness for a challenge");
  return to_hex(buf, sizeof buf);
}

std::string prove(const std::string& cookie, const std::string& challenge, std::uint64_t prover, std::uint64_t verifier) {
  std::string msg = challenge + ":" + std::to_string(prover) + ":" + std::to_string(verifier);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), cookie.data(), static_cast<int>(cookie.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), mac, &len);
  return to_hex(mac, len);
}

bool verify(const std::string& cookie, const std::string& challenge, std::uint64_t prover, std::uint64_t verifier,
            const std::string& proof) {
  std::string expected = prove(cookie, challenge, prover, verifier);
  return proof.size() == expected.size() && CRYPTO_memcmp(proof.data(), expected.data(), expected.size()) == 0;
}

}  // namespace g::net
