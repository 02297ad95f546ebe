#include <doctest/doctest.h>

#include "sim/options.hpp"

using g::sim::parse_options;

TEST_CASE("g-fakecord options: values, defaults and clear errors") {
  auto r = parse_options({"--listen", "127.0.0.1:0", "--guilds=5000", "--shards", "16", "--rate", "2.5", "--token", "t"});
  REQUIRE(r.opts);
  CHECK(r.opts->listen_port == 0);
  CHECK(r.opts->guilds == 5000);
  CHECK(r.opts->recommended_shards() == 16);
  CHECK(r.opts->rate == doctest::Approx(2.5));
  CHECK(r.opts->token == "t");
  CHECK(parse_options({"--guilds", "2500"}).opts->recommended_shards() == 3);
  CHECK(parse_options({"--guilds", "0"}).opts->recommended_shards() == 1);

  CHECK(parse_options({"--help"}).help);
  CHECK(parse_options({"--nope"}).error == "unknown option '--nope' (see --help)");
  CHECK(parse_options({"--guilds"}).error == "option --guilds needs a value");
  CHECK(parse_options({"--guilds", "many"}).error == "invalid value 'many' for --guilds");
  CHECK(parse_options({"--listen", "nohost"}).error == "invalid value 'nohost' for --listen");
  CHECK(parse_options({"--max-concurrency", "0"}).error == "invalid value '0' for --max-concurrency");
  CHECK(parse_options({"--tls-cert", "a.pem"}).error == "--tls-cert and --tls-key go together");
}
