/* The WDK's wsk.h for a Linux KMDF build: Wine's ddk/wsk.h over the prelude. */
#include "wskrs-prelude.h"
#include <ddk/wsk.h>
