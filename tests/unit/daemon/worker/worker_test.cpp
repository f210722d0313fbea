// To be written.
#include <catch2/catch.hpp>
