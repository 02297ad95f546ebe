#include <doctest/doctest.h>

#include "net/peer_auth.hpp"
#include "net/status_challenges.hpp"

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

TEST_CASE("status challenges: a flood of requests cannot push an operator's challenge out, and each is good once") {
  g::net::status_challenges c;
  const std::string cookie = "0123456789abcdef-cookie";
  std::string mine = c.issue(cookie, 1000);
  for (int i = 0; i < 100000; ++i) c.issue(cookie, 1000);  // unauthenticated callers asking for challenges
  CHECK(c.redeem(cookie, mine, 2000));
  CHECK_FALSE(c.redeem(cookie, mine, 2000));  // once
  CHECK_FALSE(c.redeem(cookie, c.issue(cookie, 1000), 1000 + g::net::status_challenges::lifetime_ms + 1));  // expired
  std::string forged = mine.substr(0, mine.rfind('.')) + ".00";
  CHECK_FALSE(c.redeem(cookie, forged, 2000));
  CHECK_FALSE(c.redeem("another-cookie-0000", c.issue(cookie, 1000), 2000));  // not issued under this cookie
  CHECK_FALSE(c.redeem(cookie, "garbage", 2000));
}
