#include <doctest/doctest.h>

#include "net/peer_auth.hpp"

using namespace g::net;

TEST_CASE("peer authentication: the right cookie proves itself, nothing else does") {
  std::string challenge = make_challenge();
  CHECK(challenge.size() == 64);
  CHECK(make_challenge() != challenge);
  std::string proof = prove("the-shared-cookie", challenge, 1, 2);
  CHECK(proof.find("the-shared-cookie") == std::string::npos);  // the cookie never travels
  CHECK(verify("the-shared-cookie", challenge, 1, 2, proof));
  CHECK_FALSE(verify("another-cookie!!", challenge, 1, 2, proof));
  CHECK_FALSE(verify("the-shared-cookie", make_challenge(), 1, 2, proof));  // replay on a new challenge
  CHECK_FALSE(verify("the-shared-cookie", challenge, 2, 1, proof));         // reflected back
  CHECK_FALSE(verify("the-shared-cookie", challenge, 1, 3, proof));         // to another node
  CHECK_FALSE(verify("the-shared-cookie", challenge, 1, 2, ""));
}
