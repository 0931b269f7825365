/*
 * opt_doc.c - what an option table says to people (atcommon.h, "option tables"): --help,
 * wrapped to 80 columns, and the man page (roff with the man macros, section 1).
 *
 * Owns nothing. The help column: "  --name METAVAR" then the help text from column 30,
 * wrapped at word boundaries; a left part too wide for the column puts the text on the next
 * line. A row with a default (not a string) ends its help with " [DEFAULT]".
 * Threading: reentrant.
 */
#include <string.h>

#include "atcommon.h"

#define HELP_WIDTH 80
#define HELP_COL 30

static int shown(const at_opt *o)
{
    return !(o->flags & AT_OPT_HIDDEN) && o->kind != AT_OPT_MAN;
}

/* "--name METAVAR", "-o, --output FILE". */
static void left_part(const at_opt *o, char *buf, size_t len)
{
    char letter[8] = "";
    if (o->letter) snprintf(letter, sizeof letter, "-%c, ", o->letter);
    const char *mv = o->kind == AT_OPT_FLAG ? NULL : o->metavar;
    snprintf(buf, len, "%s--%s%s%s", letter, o->name, mv ? " " : "", mv ? mv : "");
}

/* Writes text from column `col` (the cursor is there), wrapping before HELP_WIDTH. */
static void wrap(FILE *out, const char *text, int col)
{
    int at = col;
    const char *s = text;
    while (*s) {
        while (*s == ' ')
            s++;
        size_t w = strcspn(s, " ");
        if (w == 0) break;
        if (at > col && at + 1 + (int)w > HELP_WIDTH) {
            fprintf(out, "\n%*s", col, "");
            at = col;
        }
        if (at > col) {
            fputc(' ', out);
            at++;
        }
        fwrite(s, 1, w, out);
        at += (int)w;
        s += w;
    }
    fputc('\n', out);
}

static void help_row(FILE *out, const at_opt *o)
{
    char left[96], text[1024];
    left_part(o, left, sizeof left);
    int show_def = o->def && o->kind != AT_OPT_STRING && !(o->flags & AT_OPT_NODEFSHOW);
    snprintf(text, sizeof text, "%s%s%s%s", o->help ? o->help : "", show_def ? " [" : "",
             show_def ? o->def : "", show_def ? "]" : "");
    int n = fprintf(out, "  %s", left);
    if (n + 1 > HELP_COL) {
        fprintf(out, "\n%*s", HELP_COL, "");
    } else {
        fprintf(out, "%*s", HELP_COL - n, "");
    }
    wrap(out, text, HELP_COL);
}

void at_opt_help(const at_opt_prog *p, FILE *out)
{
    if (p->head) fputs(p->head, out);
    if (p->opts_title) fputs(p->opts_title, out);
    for (const at_opt *o = p->opts; o && o->name; o++)
        if (shown(o)) help_row(out, o);
    if (p->tail) fputs(p->tail, out);
}

/* ---- the man page ------------------------------------------------------------------------ */

/* One line of text, escaped for roff: backslashes, a leading '.' or '\''. */
static void roff_line(FILE *out, const char *s, size_t n)
{
    if (n && (s[0] == '.' || s[0] == '\'')) fputs("\\&", out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            fputs("\\e", out);
        else if (s[i] == '-')
            fputs("\\-", out);
        else
            fputc(s[i], out);
    }
    fputc('\n', out);
}

/* Plain text: a blank line starts a paragraph, indented lines (and "usage:" lines) are kept as
 * they are (.nf) and from the left margin (.in 0), where --help has them: they are laid out for
 * 80 columns, and man's body indent would push them past it. */
static void roff_text(FILE *out, const char *text)
{
    int nofill = 0;
    for (const char *s = text; *s;) {
        size_t n = strcspn(s, "\n");
        int blank = n == 0, indented = n > 0 && (s[0] == ' ' || strncmp(s, "usage:", 6) == 0);
        if (nofill && !indented) {
            fputs(".in\n.fi\n", out);
            nofill = 0;
        }
        if (blank) {
            fputs(".PP\n", out);
        } else {
            if (indented && !nofill) {
                fputs(".nf\n.in 0\n", out);
                nofill = 1;
            }
            roff_line(out, s, n);
        }
        s += n;
        if (*s) s++;
    }
    if (nofill) fputs(".in\n.fi\n", out);
}

static void man_row(FILE *out, const at_opt *o)
{
    char left[96];
    left_part(o, left, sizeof left);
    fputs(".TP\n.B ", out);
    roff_line(out, left, strlen(left));
    char text[2048];
    int show_def = o->def && o->kind != AT_OPT_STRING && !(o->flags & AT_OPT_NODEFSHOW);
    snprintf(text, sizeof text, "%s%s%s%s",
             o->man    ? o->man
             : o->help ? o->help
                       : "",
             show_def ? " (default: " : "", show_def ? o->def : "", show_def ? ")" : "");
    roff_text(out, text);
}

static void upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
}

void at_opt_man(const at_opt_prog *p, const char *version, FILE *out)
{
    const char *page = p->page ? p->page : p->name;
    char title[128];
    snprintf(title, sizeof title, "%s", page);
    upper(title);
    fprintf(out, ".\\\" Generated from the option table (common/opt.c); do not edit.\n");
    fprintf(out, ".TH %s 1 \"\" \"AgentTrail %s\" \"AgentTrail manual\"\n.SH NAME\n", title,
            version ? version : "");
    char name[256];
    snprintf(name, sizeof name, "%s - %s", page, p->summary ? p->summary : "");
    roff_line(out, name, strlen(name));
    if (p->head) {
        fputs(".SH DESCRIPTION\n", out);
        roff_text(out, p->head);
    }
    fputs(".SH OPTIONS\n", out);
    for (const at_opt *o = p->opts; o && o->name; o++)
        if (shown(o)) man_row(out, o);
    if (p->tail) {
        fputs(".PP\n", out);
        roff_text(out, p->tail);
    }
    for (const at_opt_section *s = p->sections; s && s->title; s++) {
        fprintf(out, ".SH %s\n", s->title);
        roff_text(out, s->text);
    }
}

int at_opt_answer(const at_opt_prog *p, const at_opt_result *res, const char *version, FILE *out)
{
    if (res->help) at_opt_help(p, out);
    if (res->man) at_opt_man(p, version, out);
    if (res->version) fprintf(out, "%s %s\n", p->name, version);
    return res->help || res->man || res->version;
}
