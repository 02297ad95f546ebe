#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "net/redis/commit_batch.hpp"
#include "net/redis/resp.hpp"

using namespace g::net;

namespace {
// One event's arguments as Redis reads them: seq, t, d, ts, guild.
std::string wire(const std::string& seq, const std::string& t, const std::string& d, const std::string& ts, const std::string& guild) {
  std::string out;
  for (const auto* a : {&seq, &t, &d, &ts, &guild}) out += "$" + std::to_string(a->size()) + "\r\n" + *a + "\r\n";
  return out;
}
}  // namespace

TEST_CASE("resp: commands are arrays of binary-safe bulk strings") {
  std::string out;
  resp::append_array_header(out, 2);
  resp::append_bulk(out, "GET");
  resp::append_bulk(out, std::string_view("a\r\nb\0c", 6));
  CHECK(out == std::string("*2\r\n$3\r\nGET\r\n$6\r\na\r\nb\0c\r\n", 25));
  CHECK(resp::command(std::vector<std::string_view>{"PING"}) == "*1\r\n$4\r\nPING\r\n");
  std::string n;
  resp::append_bulk_number(n, 1234567890123456789ULL);
  CHECK(n == "$19\r\n1234567890123456789\r\n");
}

TEST_CASE("commit batches: encoded once in the wire format, one session per segment, bounded, retried in order") {
  commit_batch b(5, 3);
  auto s1 = std::make_shared<session_tag>(session_tag{"one", "u1"});
  auto s2 = std::make_shared<session_tag>(session_tag{"two", "u2"});
  b.add(s1, 1, "MESSAGE_CREATE", R"({"id":"1"})", 1700, 42);
  b.add(s1, 2, "", "", 1701, 0);  // filtered out: its seq still moves
  for (int i = 1; i <= 3; ++i) b.add(s2, i, "E", "{}", 7, 0);
  CHECK(b.size() == 5);
  CHECK(b.full());

  const commit_segment* first = b.take();
  REQUIRE(first != nullptr);
  CHECK(first->session.get() == s1.get());
  CHECK(first->events == 2);
  CHECK(first->first_seq == 1);
  CHECK(first->last_seq == 2);
  CHECK(*first->wire == wire("1", "MESSAGE_CREATE", R"({"id":"1"})", "1700", "42") + wire("2", "", "", "1701", "0"));
  CHECK(b.take() == nullptr);  // one in flight at a time
  CHECK(b.in_flight_segment() == first);

  b.add(s2, 4, "E", "{}", 7, 0);  // the session's segment holds 3 (max_batch): a new one
  b.committed();
  CHECK(b.size() == 4);
  CHECK_FALSE(b.full());
  const commit_segment* second = b.take();
  REQUIRE(second != nullptr);
  CHECK(second->session.get() == s2.get());
  CHECK(second->events == 3);
  const std::string sent = *second->wire;
  b.failed();  // Redis did not answer: the same bytes go again, first
  CHECK(b.size() == 4);
  const commit_segment* again = b.take();
  REQUIRE(again != nullptr);
  CHECK(again->first_seq == 1);
  CHECK(again->last_seq == 3);
  CHECK(*again->wire == sent);
  b.committed();
  const commit_segment* third = b.take();
  REQUIRE(third != nullptr);
  CHECK(third->first_seq == 4);
  b.committed();
  CHECK(b.empty());
  CHECK(b.take() == nullptr);
}

TEST_CASE("commit batches: the segment in flight takes no more events (its bytes are being written)") {
  commit_batch b;
  auto s = std::make_shared<session_tag>(session_tag{"one", "u"});
  b.add(s, 1, "E", "{}", 1, 0);
  const commit_segment* f = b.take();
  REQUIRE(f != nullptr);
  const std::string bytes = *f->wire;
  b.add(s, 2, "E", "{}", 1, 0);
  CHECK(f->events == 1);
  CHECK(*f->wire == bytes);
  b.committed();
  const commit_segment* n = b.take();
  REQUIRE(n != nullptr);
  CHECK(n->first_seq == 2);
  CHECK(n->events == 1);
  b.clear();
  CHECK(b.empty());
  CHECK_FALSE(b.in_flight());
}
