/* The WDK's ntddk.h for a Linux KMDF build: see wskrs-prelude.h. */
#include "wskrs-prelude.h"
