// streamgate: the StreamGate command-line tool.
#include <exception>
#include <iostream>

#include "cli/app.h"
#include "common/exit_codes.h"

int main(int argc, char** argv) {
  try {
    return sg::cli::Run(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "streamgate: internal error: " << e.what() << '\n';
    return sg::kExitFailure;
  }
}
