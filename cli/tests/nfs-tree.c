/* A libnfs client for the `serve nfs` tests: libnfs-utils copies single files only, so this
 * copies whole trees, as an NFS client does them (MKDIR, CREATE, WRITE, READDIRPLUS, READ).
 *
 *   nfs-tree put LOCAL_DIR URL     copy LOCAL_DIR's tree into the export's root
 *   nfs-tree get URL LOCAL_DIR     copy the export's tree into LOCAL_DIR (created)
 *
 * URL: nfs://HOST//?nfsport=P&mountport=P&version=3 (export "/"). Exit 0 on success, else 1
 * with one line on stderr. Built by cli/tests/serve.rs with `cc ... -lnfs`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nfsc/libnfs.h>

#define CHUNK (1 << 20)

static struct nfs_context *nfs;
static char buf[CHUNK];

static int fail(const char *what, const char *path) {
    fprintf(stderr, "nfs-tree: %s %s: %s\n", what, path, nfs_get_error(nfs));
    return -1;
}

static int put_file(const char *local, const char *remote) {
    struct nfsfh *fh;
    int fd = open(local, O_RDONLY);
    if (fd < 0) { perror(local); return -1; }
    if (nfs_creat(nfs, remote, 0644, &fh) < 0) { close(fd); return fail("create", remote); }
    ssize_t n;
    while ((n = read(fd, buf, CHUNK)) > 0) {
        ssize_t done = 0;
        while (done < n) {
            int w = nfs_write(nfs, fh, n - done, buf + done);
            if (w <= 0) { close(fd); nfs_close(nfs, fh); return fail("write", remote); }
            done += w;
        }
    }
    close(fd);
    if (nfs_close(nfs, fh) < 0) return fail("close", remote);
    return n < 0 ? -1 : 0;
}

static int put_tree(const char *local, const char *remote) {
    DIR *d = opendir(local);
    if (!d) { perror(local); return -1; }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char l[4096], r[4096];
        snprintf(l, sizeof l, "%s/%s", local, e->d_name);
        snprintf(r, sizeof r, "%s/%s", remote, e->d_name);
        struct stat st;
        if (lstat(l, &st) < 0) { perror(l); rc = -1; break; }
        if (S_ISDIR(st.st_mode)) {
            if (nfs_mkdir(nfs, r) < 0) rc = fail("mkdir", r);
            else rc = put_tree(l, r);
        } else if (S_ISREG(st.st_mode)) {
            rc = put_file(l, r);
        }
    }
    closedir(d);
    return rc;
}

static int get_file(const char *remote, const char *local) {
    struct nfsfh *fh;
    if (nfs_open(nfs, remote, O_RDONLY, &fh) < 0) return fail("open", remote);
    int fd = open(local, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(local); nfs_close(nfs, fh); return -1; }
    int n;
    while ((n = nfs_read(nfs, fh, CHUNK, buf)) > 0) {
        if (write(fd, buf, n) != n) { perror(local); n = -1; break; }
    }
    close(fd);
    nfs_close(nfs, fh);
    return n < 0 ? fail("read", remote) : 0;
}

static int get_tree(const char *remote, const char *local) {
    struct nfsdir *d;
    if (mkdir(local, 0755) < 0 && errno != EEXIST) { perror(local); return -1; }
    const char *dir = remote[0] ? remote : "/";
    if (nfs_opendir(nfs, dir, &d) < 0) return fail("opendir", dir);
    struct nfsdirent *e;
    int rc = 0;
    while (rc == 0 && (e = nfs_readdir(nfs, d))) {
        if (!strcmp(e->name, ".") || !strcmp(e->name, "..")) continue;
        char l[4096], r[4096];
        snprintf(l, sizeof l, "%s/%s", local, e->name);
        snprintf(r, sizeof r, "%s/%s", remote, e->name);
        if (S_ISDIR(e->mode)) rc = get_tree(r, l);
        else if (S_ISREG(e->mode)) rc = get_file(r, l);
    }
    nfs_closedir(nfs, d);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "put") && strcmp(argv[1], "get"))) {
        fprintf(stderr, "usage: nfs-tree put LOCAL_DIR URL | get URL LOCAL_DIR\n");
        return 2;
    }
    int put = !strcmp(argv[1], "put");
    const char *url_text = put ? argv[3] : argv[2];
    nfs = nfs_init_context();
    struct nfs_url *url = nfs_parse_url_dir(nfs, url_text);
    if (!url) {
        fail("parse", url_text);
        return 1;
    }
    if (nfs_mount(nfs, url->server, url->path) < 0) {
        fail("mount", url_text);
        return 1;
    }
    int rc = put ? put_tree(argv[2], "") : get_tree("", argv[3]);
    nfs_destroy_url(url);
    nfs_destroy_context(nfs);
    return rc == 0 ? 0 : 1;
}
