// g-fakecord: a Discord gateway + REST simulator. See --help.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <iostream>

#include "sim/fakecord.hpp"
#include "sim/options.hpp"
#include "sim/server.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = g::sim::parse_options(args);
  if (parsed.help) {
    std::cout << g::sim::usage();
    return 0;
  }
  if (!parsed.opts) {
    std::cerr << "g-fakecord: " << parsed.error << "\n";
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    boost::asio::io_context io(1);
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch()).count();
    g::sim::fakecord fc(*parsed.opts, now);
    g::sim::server srv(io, fc);
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
    std::cout << "g-fakecord listening on " << fc.gateway_url() << std::endl;
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "g-fakecord: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
