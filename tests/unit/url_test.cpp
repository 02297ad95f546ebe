#include <doctest/doctest.h>

#include "net/url.hpp"

using g::net::parse_url;

TEST_CASE("gateway and REST URLs parse as Discord and operators write them") {
  auto a = parse_url("wss://gateway-us-east1-c.discord.gg");
  REQUIRE(a);
  CHECK(a->tls);
  CHECK(a->host == "gateway-us-east1-c.discord.gg");
  CHECK(a->port == 443);
  CHECK(a->path == "/");
  CHECK(a->default_port());
  auto b = parse_url("ws://127.0.0.1:7450/resume?v=10");
  REQUIRE(b);
  CHECK_FALSE(b->tls);
  CHECK(b->port == 7450);
  CHECK(b->path == "/resume");
  auto c = parse_url("ws://[::1]:9000/");
  REQUIRE(c);
  CHECK(c->host == "::1");
  CHECK(c->port == 9000);
  auto d = parse_url("https://discord.com/api", true);
  REQUIRE(d);
  CHECK(d->path == "/api");
  CHECK_FALSE(parse_url("https://discord.com/api"));  // not a WebSocket URL
  CHECK_FALSE(parse_url("ws://"));
  CHECK_FALSE(parse_url("ws://host:notaport/"));
  CHECK_FALSE(parse_url("ws://host:0/"));
  CHECK_FALSE(parse_url("ftp://host/", true));
}
