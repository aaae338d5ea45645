#include <iostream>
#include <string>
#include <vector>

#include "sim/sim_cli.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return vp::sim::run_sim(args, std::cout, std::cerr, argc > 0 ? argv[0] : "verified-proxy-sim");
}
