/* wdmsec.h: nothing of it is used (wdf.h of the WDK includes it). */
