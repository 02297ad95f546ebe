#pragma once
// Node-to-node trust without sending the cookie: each side sends a fresh random challenge and acts on the peer
// only after it answers HMAC-SHA256(cookie, challenge ":" prover-id ":" verifier-id). A recorded answer is
// useless for another challenge, another pair of nodes, or the other direction.
#include <cstdint>
#include <string>

namespace g::net {

std::string make_challenge();  // 32 random bytes, hex
std::string prove(const std::string& cookie, const std::string& challenge, std::uint64_t prover, std::uint64_t verifier);
bool verify(const std::string& cookie, const std::string& challenge, std::uint64_t prover, std::uint64_t verifier,
            const std::string& proof);

}  // namespace g::net
