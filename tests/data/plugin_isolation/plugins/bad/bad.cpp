// A plugin that reaches past the plugin API, for the isolation check's own test.
#include "daemon/plugin_api/plugin.h"
#include "daemon/http/server.h"
#include "daemon/plugins/bad/bad.h"
