#include <doctest/doctest.h>

#include "cluster/rate_window.hpp"

using g::cluster::rate_window;

TEST_CASE("rate_window allows exactly `limit` events per window") {
  rate_window w(120, 60000);
  for (int i = 0; i < 120; ++i) {
    REQUIRE(w.allows(1000 + i));
    w.record(1000 + i);
  }
  CHECK_FALSE(w.allows(1200));
  CHECK(w.count(1200) == 120);
  // The first event (t=1000) leaves the window at t=61000.
  CHECK(w.wait_ms(1200) == 59800);
  CHECK_FALSE(w.allows(60999));
  CHECK(w.allows(61000));
}

TEST_CASE("rate_window slides: old events stop counting") {
  rate_window w(3, 1000);
  w.record(0);
  w.record(500);
  w.record(900);
  CHECK_FALSE(w.allows(999));
  CHECK(w.allows(1000));
  w.record(1000);
  CHECK(w.count(1000) == 3);
  CHECK(w.count(1499) == 3);
  CHECK(w.count(1500) == 2);
  CHECK_FALSE(w.allows(1499));
  CHECK(w.allows(1500));
}

TEST_CASE("rate_window with limit 0 never allows") {
  rate_window w(0, 1000);
  CHECK_FALSE(w.allows(0));
}
