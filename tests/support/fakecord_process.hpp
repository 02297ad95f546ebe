#pragma once
// g-fakecord for one test: the binary this build made, on a free port.
#include "sim/harness/fakecord_process.hpp"

namespace g::test {

using harness::http_request;

class fakecord_process : public harness::fakecord_process {
 public:
  explicit fakecord_process(std::vector<std::string> args = {})
      : harness::fakecord_process(G_FAKECORD_PATH, std::move(args)) {}
};

}  // namespace g::test
