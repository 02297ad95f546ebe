// The status page in a real browser (headless Chromium) against a running three-node cluster: the grid shows
// every shard with its state and owner, the nodes and the master, and a killed node's shards changing owner.
// A screenshot is kept in the build tree as a test artifact.
#include <regex>

#include "tests/node/node_world.hpp"

using namespace g::test;

namespace {

// The page's DOM after its scripts ran and its first /status.json arrived.
std::string rendered(world& w, std::uint16_t http_port, const std::string& screenshot = "") {
  std::vector<std::string> argv = {"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                   "--virtual-time-budget=5000", "--window-size=1200,900"};
  if (!screenshot.empty()) argv.push_back("--screenshot=" + screenshot);
  else argv.push_back("--dump-dom");
  argv.push_back("http://127.0.0.1:" + std::to_string(http_port) + "/");
  static int n = 0;
  child_process p(argv, (w.dir / ("chromium-" + std::to_string(++n) + ".log")).string());
  REQUIRE(p.wait(60s) == 0);
  return p.log();
}

struct cell {
  std::string state, owner;
};

std::map<int, cell> cells(const std::string& dom) {
  std::map<int, cell> out;
  static const std::regex tag(R"(<div[^>]*class="shard[^"]*"[^>]*>)");
  static const std::regex shard(R"re(data-shard="(\d+)")re"), state(R"re(data-state="([a-z]+)")re"),
      owner(R"re(data-owner="(\d*)")re");
  for (std::sregex_iterator it(dom.begin(), dom.end(), tag), end; it != end; ++it) {
    std::string t = it->str();
    std::smatch m1, m2, m3;
    if (std::regex_search(t, m1, shard) && std::regex_search(t, m2, state) && std::regex_search(t, m3, owner))
      out[std::stoi(m1[1])] = {m2[1], m3[1]};
  }
  return out;
}

int count(const std::string& dom, const std::string& what) {
  int n = 0;
  for (auto at = dom.find(what); at != std::string::npos; at = dom.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("status page: headless Chromium sees every shard, the nodes, the master, and a failover") {
  world w(6, {"--rate", "100"});
  auto a = w.extra_node("a");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), a.log());
  auto b = w.extra_node("b");
  auto c = w.extra_node("c");
  auto ready_on = [&](std::size_t nodes) {
    auto o = w.owners();
    int sum = 0;
    for (auto& [id, k] : o) sum += k;
    return o.size() == nodes && sum == 6;
  };
  REQUIRE(w.wait_for([&] { return ready_on(3); }, 30s));
  const std::uint16_t page = w.http_port_of("a");
  const std::string c_id = world::node_id(c);
  std::string dom;
  REQUIRE_MESSAGE(w.wait_for([&] {  // the view is read every second
    dom = rendered(w, page);
    auto g = cells(dom);
    int with_c = 0, ready = 0;
    for (auto& [s, x] : g) {
      with_c += x.owner == c_id;
      ready += x.state == "ready";
    }
    return g.size() == 6 && ready == 6 && with_c >= 1;
  }, 30s), dom);
  CHECK(dom.find(R"(id="shards")") != std::string::npos);
  CHECK(dom.find(R"(data-count="6")") != std::string::npos);
  CHECK(count(dom, R"(class="node)") == 3);
  CHECK(count(dom, R"(data-master="true")") == 1);
  CHECK(dom.find(R"(data-id=")" + world::node_id(a) + R"(" data-epoch=")") != std::string::npos);  // a is master

  c.kill();  // its shards resume on a and b; the page shows the new owners
  REQUIRE(w.wait_for([&] { return ready_on(2); }, 30s));
  REQUIRE_MESSAGE(w.wait_for([&] {
    dom = rendered(w, page);
    auto g = cells(dom);
    int ready = 0, with_c = 0;
    for (auto& [s, x] : g) {
      ready += x.state == "ready";
      with_c += x.owner == c_id;
    }
    return g.size() == 6 && ready == 6 && with_c == 0;
  }, 30s), dom);
  CHECK(count(dom, R"(class="node)") == 2);  // the dead node left the registry
  auto shot = std::filesystem::path(G_ARTIFACT_DIR) / "status-page.png";
  std::filesystem::create_directories(shot.parent_path());
  rendered(w, page, shot.string());
  CHECK(std::filesystem::file_size(shot) > 10000);
  world::stop_all({&a, &b});
}
