/*
 * json_alloc.h - knowing whether jansson ran out of memory (json_alloc.c; private to
 * libtraceproto).
 *
 * jansson 2.14 does not report every allocation that fails: its lexer drops the character it
 * could not save and goes on, so a parse that ran out of memory can return a tree holding a
 * string cut short (a secret one character shorter may then escape its masking rule), or a
 * syntax error. Each parse of libtraceproto therefore calls tp_json_watch before json_loadb
 * and tp_json_failed after it, and takes the result as TP_ENOMEM whatever jansson returned.
 */
#ifndef AGENTTRAIL_JSON_ALLOC_H
#define AGENTTRAIL_JSON_ALLOC_H

/* Starts watching this thread's jansson allocations (installing, once, an allocator that
 * calls the one jansson had and notes failures). */
void tp_json_watch(void);
/* 1 when a jansson allocation of this thread failed since its last tp_json_watch. */
int tp_json_failed(void);
#endif
