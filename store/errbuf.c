/*
 * errbuf.c - empty: ts_errf is a macro over at_errf (see errbuf.h), kept until the rename.
 */
#include "errbuf.h"
