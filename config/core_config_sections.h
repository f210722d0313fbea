// The sections CoreConfig() is made of, one function each (core_config.cpp and
// core_config_peers.cpp).
#pragma once

#include "config/schema.h"

namespace sg::config {

SectionSpec AppSection();
SectionSpec GrpcSection();
SectionSpec ConsulSection();
SectionSpec DatabaseSection();
SectionSpec StorageSection();
SectionSpec NatsSection();
SectionSpec Web3Section();
SectionSpec PluginsSection();
SectionSpec LoggingSection();
SectionSpec ControlSection();
SectionSpec DaemonSection();

}  // namespace sg::config
