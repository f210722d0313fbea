// To be written.
#include "daemon/plugin_api/sql.h"
