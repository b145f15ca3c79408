/* SPDX-License-Identifier: Apache-2.0 */
/* `sluice __complete WORD... CUR`: the candidates for the word being typed,
 * one per line, for the bash completion (tools/sluice/sluice.bash). They
 * come from the same verb tables that parse the command line (cli.h), so the
 * completion cannot drift from the CLI: nouns, verbs, groups, each verb's
 * options, and for positional arguments the live names the CLI itself lists
 * (`sluice pool list --json` and so on, run as child processes). "@files"
 * and "@dirs" ask the shell to complete a path. Nothing is printed for what
 * cannot be guessed (a new name, a size). */
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* The word being completed (a prefix filter for every candidate). */
static const char *cur = "";

static void put(const char *word, size_t len)
{
    if (len >= strlen(cur) && !strncmp(word, cur, strlen(cur)))
        printf("%.*s\n", (int)len, word);
}

static void put_str(const char *word)
{
    put(word, strlen(word));
}

static const struct cli_option *opt_by_name(const struct cli_verbs *t, const char *name, size_t len)
{
    for (const struct cli_option *o = t->options; o && o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len))
            return o;
    return NULL;
}

static const struct cli_option *opt_by_key(const struct cli_verbs *t, int key)
{
    for (const struct cli_option *o = t->options; o && o->name; o++)
        if (o->key == key)
            return o;
    return NULL;
}

/* The output of `sluice ARGV...` (this very binary), or NULL. */
static char *run_self(char *const argv[])
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fds[2];
    pid_t pid;

    if (pipe(fds) < 0)
        return NULL;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        close(fds[0]);
        close(fds[1]);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *n = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!n)
                break;
            buf = n;
        }
        ssize_t r = read(fds[0], buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fds[0]);
    waitpid(pid, NULL, 0);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* The live names a listing prints: member @key of each element of the JSON
 * array `sluice ARGV... --json` prints, prefixed by member @pre and '/'
 * when @pre is given (volumes: POOL/VOL). */
static void put_listed(char *const argv[], const char *key, const char *pre)
{
    char *out = run_self(argv);
    struct json_object *arr = out ? json_tokener_parse(out) : NULL;

    if (arr && json_object_is_type(arr, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *e = json_object_array_get_idx(arr, i), *k, *p;
            char name[512];
            if (!json_object_object_get_ex(e, key, &k) || !json_object_is_type(k, json_type_string))
                continue;
            if (pre && json_object_object_get_ex(e, pre, &p) && json_object_is_type(p, json_type_string))
                snprintf(name, sizeof(name), "%s/%s", json_object_get_string(p),
                         json_object_get_string(k));
            else
                snprintf(name, sizeof(name), "%s", json_object_get_string(k));
            put_str(name);
        }
    }
    json_object_put(arr);
    free(out);
}

/* Candidates for an argument named @arg (from a usage line: "POOL/VOL",
 * "ID", "FILE", "blk|net") of the verb at @path ("vol info", "net bridge
 * delete"). @ctl and @db: the --control / --db the user typed, if any. */
static void put_arg(const char *arg, const char *path, const char *ctl, const char *db)
{
    size_t plen = strcspn(path, " ");
    char *argv[8] = { "sluice" };
    int n = 1;

    if (strchr(arg, '|') && !strchr(arg, '[')) {
        for (const char *p = arg; *p; p += *p == '|') {
            size_t l = strcspn(p, "|");
            put(p, l);
            p += l;
        }
        return;
    }
    if (!strcmp(arg, "FILE") || !strcmp(arg, "DEVICE") || !strcmp(arg, "PATH")) {
        puts("@files");
        return;
    }
    if (!strcmp(arg, "DIR")) {
        puts("@dirs");
        return;
    }
    if (!strcmp(arg, "POOL/VOL")) {
        argv[n++] = "vol", argv[n++] = "list", argv[n++] = "--json";
        put_listed(argv, "name", "pool");
    } else if (!strcmp(arg, "POOL") || (!strncmp(path, "pool", plen) && plen == 4 && !strcmp(arg, "NAME"))) {
        argv[n++] = "pool", argv[n++] = "list", argv[n++] = "--json";
        put_listed(argv, "name", NULL);
    } else if (!strcmp(arg, "ID") && !strncmp(path, "dev ", 4)) {
        argv[n++] = "dev", argv[n++] = "list", argv[n++] = "--json";
        if (ctl)
            argv[n++] = "--control", argv[n++] = (char *)ctl;
        put_listed(argv, "id", NULL);
    } else if (!strncmp(path, "net bridge ", 11) && (!strcmp(arg, "NAME") || !strcmp(arg, "BR"))) {
        argv[n++] = "net", argv[n++] = "bridge", argv[n++] = "list", argv[n++] = "--json";
        put_listed(argv, "name", NULL);
    } else if (!strncmp(path, "net hostonly ", 13) && !strcmp(arg, "NAME")) {
        argv[n++] = "net", argv[n++] = "hostonly", argv[n++] = "list", argv[n++] = "--json";
        put_listed(argv, "name", NULL);
    } else if (!strncmp(path, "net ovs ", 8) && !strcmp(arg, "BRIDGE")) {
        argv[n++] = "net", argv[n++] = "ovs", argv[n++] = "list", argv[n++] = "--json";
        if (db)
            argv[n++] = "--db", argv[n++] = (char *)db;
        put_listed(argv, "name", NULL);
    }
}

/* The @pos-th positional argument's name in usage line @args
 * ("POOL/VOL --size SIZE [--force]": 0 is POOL/VOL), into @buf; false
 * when there is none. An option's value and "..." are not positionals;
 * "[POOL]" is. */
static bool nth_arg(const char *args, int pos, char *buf, size_t len)
{
    const char *w[32];
    size_t wl[32], n = 0;

    while (args && *args && n < 32) {
        args += strspn(args, " ");
        if (!*args)
            break;
        w[n] = args;
        wl[n] = strcspn(args, " ");
        args += wl[n++];
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = w[i];
        size_t tl = wl[i];
        bool closed = t[tl - 1] == ']';
        if (t[0] == '[')
            t++, tl--;
        if (closed && tl)
            tl--;
        if (t[0] == '-') {
            /* "--size SIZE", "[--mtu N]": the value is no positional;
             * "[--force]" stands alone. */
            if (!closed && i + 1 < n && w[i + 1][0] != '-' && w[i + 1][0] != '[')
                i++;
            continue;
        }
        if (tl >= 3 && !strncmp(t, "...", 3))
            continue;
        if (pos-- == 0) {
            snprintf(buf, len, "%.*s", (int)tl, t);
            return true;
        }
    }
    return false;
}

static void put_options(const struct cli_verbs *t, const struct cli_verb *v)
{
    char buf[80];

    if (v) {
        for (const int *k = v->opts; k && *k; k++) {
            snprintf(buf, sizeof(buf), "--%s", opt_by_key(t, *k)->name);
            put_str(buf);
        }
    } else {
        for (const struct cli_option *o = t->options; o && o->name; o++) {
            snprintf(buf, sizeof(buf), "--%s", o->name);
            put_str(buf);
        }
    }
    put_str("--quiet");
    put_str("--help");
}

/* argv[0] is the noun (or group), argv[argc - 1] the word being typed. */
static int complete_table(const struct cli_verbs *t, int argc, char **argv, char *path,
                          size_t plen, const char **ctl, const char **db)
{
    const struct cli_verb *v = NULL;
    const struct cli_option *pending = NULL;
    int npos = 0;
    bool ended = false;

    cur = argv[argc - 1];
    for (int i = 1; i < argc - 1; i++) {
        const char *w = argv[i];
        if (pending) {
            if (!strcmp(pending->name, "control"))
                *ctl = w;
            else if (!strcmp(pending->name, "db"))
                *db = w;
            pending = NULL;
            continue;
        }
        if (!ended && !strcmp(w, "--")) {
            ended = true;
        } else if (!ended && w[0] == '-' && w[1] == '-') {
            const struct cli_option *o = opt_by_name(t, w + 2, strcspn(w + 2, "="));
            if (o && o->arg && !strchr(w, '='))
                pending = o;
        } else if (!ended && w[0] == '-') {
            continue;
        } else if (!v) {
            for (v = t->verbs; v->name && strcmp(v->name, w); v++)
                ;
            if (!v->name)
                return EXIT_OK;
            size_t l = strlen(path);
            snprintf(path + l, plen - l, " %s", v->name);
            if (v->sub)
                return complete_table(v->sub, argc - i, argv + i, path, plen, ctl, db);
        } else {
            npos++;
        }
    }
    if (pending) {
        /* A value the usage line spells out ("--type lvm-thin|dir"), else
         * by the value's name (PATH, DIR). */
        char opt[80], val[64];
        const char *at;
        snprintf(opt, sizeof(opt), "--%s ", pending->name);
        at = v && v->args ? strstr(v->args, opt) : NULL;
        if (at && nth_arg(at + strlen(opt), 0, val, sizeof(val)) && strchr(val, '|') &&
            !strchr(val, '['))
            put_arg(val, path, *ctl, *db);
        else
            put_arg(pending->arg, path, *ctl, *db);
        return EXIT_OK;
    }
    if (cur[0] == '-' && !ended) {
        put_options(t, v);
        return EXIT_OK;
    }
    if (!v) {
        for (const struct cli_verb *o = t->verbs; o->name; o++)
            put_str(o->name);
        return EXIT_OK;
    }
    char arg[64];
    if (nth_arg(v->args, npos, arg, sizeof(arg)))
        put_arg(arg, path, *ctl, *db);
    return EXIT_OK;
}

int cli_complete(const struct cli_verbs *t, int argc, char **argv)
{
    char path[128];
    const char *ctl = NULL, *db = NULL;

    snprintf(path, sizeof(path), "%s", t->noun);
    return complete_table(t, argc, argv, path, sizeof(path), &ctl, &db);
}
