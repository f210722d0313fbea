// seccomp_exec: runs a command under the seccomp filters that streamgated.service asks systemd for,
// so that a test can apply them where no systemd runs. Each filter is the one systemd installs for
// the unit's setting (src/shared/seccomp-util.c), stacked as systemd stacks them, so that the
// strictest answer wins:
//
//   SystemCallFilter= + SystemCallErrorNumber=EPERM   the allow list, read from ALLOWLIST (one name
//                                                     a line, groups already expanded); any other
//                                                     call fails with EPERM
//   SystemCallArchitectures=native                    libseccomp's default: other ABIs are killed
//   MemoryDenyWriteExecute=yes                        no mapping both writable and executable, no
//                                                     mprotect or shmat adding execute
//   RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6  socket() of another family: EAFNOSUPPORT
//   RestrictNamespaces=yes                            no unshare/clone into a new namespace, no
//                                                     setns; clone3 reports ENOSYS (as in systemd)
//   LockPersonality=yes                               personality() may not change
//   RestrictRealtime=yes                              no SCHED_FIFO, SCHED_RR, SCHED_DEADLINE
//   RestrictSUIDSGID=yes                              no chmod to set-user-id or set-group-id
//
// It sets no_new_privs itself (seccomp needs it without CAP_SYS_ADMIN).
//
// Usage: seccomp_exec ALLOWLIST COMMAND [ARG...]
// Exits 2 when it cannot set the filters up, else does not return (127 when exec fails).
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

#ifndef SCHED_DEADLINE
constexpr int SCHED_DEADLINE = 6;
#endif
#ifndef CLONE_NEWTIME
constexpr int CLONE_NEWTIME = 0x00000080;
#endif

// libseccomp's SCMP_A0().. macros are C compound literals, which ISO C++ lacks.
scmp_arg_cmp Cmp(unsigned arg, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
  return {.arg = arg, .op = op, .datum_a = a, .datum_b = b};
}

[[noreturn]] void Die(const char* what, int rc) {
  std::fprintf(stderr, "seccomp_exec: %s: %s\n", what, std::strerror(rc < 0 ? -rc : rc));
  std::exit(2);
}

void Add(scmp_filter_ctx ctx, uint32_t action, const char* name, unsigned count,
         scmp_arg_cmp a = {}, scmp_arg_cmp b = {}) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return;  // not a call of this architecture
  const scmp_arg_cmp args[2] = {a, b};
  if (const int rc = seccomp_rule_add_array(ctx, action, nr, count, args); rc < 0) {
    Die(name, rc);
  }
}

void Load(scmp_filter_ctx ctx, const char* what) {
  if (const int rc = seccomp_load(ctx); rc < 0) Die(what, rc);
  seccomp_release(ctx);
}

// SystemCallFilter=: every call not listed fails with EPERM.
void AllowList(const char* file) {
  std::ifstream in(file);
  if (!in) Die(file, errno);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  int allowed = 0;
  for (std::string name; std::getline(in, name);) {
    if (name.empty()) continue;
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;
    if (const int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc < 0 && rc != -EEXIST) {
      Die(name.c_str(), rc);
    }
    ++allowed;
  }
  if (allowed < 50) {
    std::fprintf(stderr, "seccomp_exec: %s lists only %d system calls\n", file, allowed);
    std::exit(2);
  }
  Load(ctx, "the system call allow list");
}

void MemoryDenyWriteExecute() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  Add(ctx, deny, "mmap", 1,
      Cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE, PROT_EXEC | PROT_WRITE));
  Add(ctx, deny, "mprotect", 1, Cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
  Add(ctx, deny, "pkey_mprotect", 1, Cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
  Add(ctx, deny, "shmat", 1, Cmp(2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC));
  Load(ctx, "MemoryDenyWriteExecute");
}

void RestrictAddressFamilies() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  for (int family = 0; family < AF_MAX; ++family) {
    if (family == AF_UNIX || family == AF_INET || family == AF_INET6) continue;
    Add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1,
        Cmp(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(family)));
  }
  Add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1,
      Cmp(0, SCMP_CMP_GE, static_cast<scmp_datum_t>(AF_MAX)));
  Load(ctx, "RestrictAddressFamilies");
}

void RestrictNamespaces() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  for (const scmp_datum_t flag : {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                                  CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME}) {
    Add(ctx, SCMP_ACT_ERRNO(EPERM), "unshare", 1, Cmp(0, SCMP_CMP_MASKED_EQ, flag, flag));
    Add(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, Cmp(0, SCMP_CMP_MASKED_EQ, flag, flag));
  }
  Add(ctx, SCMP_ACT_ERRNO(EPERM), "setns", 0);
  // Its flags are behind a pointer, out of a filter's reach: glibc falls back to clone.
  Add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0);
  Load(ctx, "RestrictNamespaces");
}

void LockPersonality() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  // Anything but the current personality, the query 0xffffffff too, as systemd 252 does.
  const int current = personality(0xffffffff);
  Add(ctx, SCMP_ACT_ERRNO(EPERM), "personality", 1,
      Cmp(0, SCMP_CMP_NE, static_cast<scmp_datum_t>(current)));
  Load(ctx, "LockPersonality");
}

void RestrictRealtime() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  const scmp_datum_t mask = ~static_cast<scmp_datum_t>(SCHED_RESET_ON_FORK) & 0xffffffff;
  for (const scmp_datum_t policy : {SCHED_FIFO, SCHED_RR, SCHED_DEADLINE}) {
    Add(ctx, SCMP_ACT_ERRNO(EPERM), "sched_setscheduler", 1,
        Cmp(1, SCMP_CMP_MASKED_EQ, mask, policy));
  }
  Load(ctx, "RestrictRealtime");
}

void RestrictSuidSgid() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  for (const scmp_datum_t bit : {S_ISUID, S_ISGID}) {
    Add(ctx, SCMP_ACT_ERRNO(EPERM), "chmod", 1, Cmp(1, SCMP_CMP_MASKED_EQ, bit, bit));
    Add(ctx, SCMP_ACT_ERRNO(EPERM), "fchmod", 1, Cmp(1, SCMP_CMP_MASKED_EQ, bit, bit));
    Add(ctx, SCMP_ACT_ERRNO(EPERM), "fchmodat", 1, Cmp(2, SCMP_CMP_MASKED_EQ, bit, bit));
  }
  Load(ctx, "RestrictSUIDSGID");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: seccomp_exec ALLOWLIST COMMAND [ARG...]\n");
    return 2;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Die("no_new_privs", errno);
  // The allow list last: the others need prctl and friends on the way.
  MemoryDenyWriteExecute();
  RestrictAddressFamilies();
  RestrictNamespaces();
  LockPersonality();
  RestrictRealtime();
  RestrictSuidSgid();
  AllowList(argv[1]);
  execv(argv[2], argv + 2);
  std::fprintf(stderr, "seccomp_exec: %s: %s\n", argv[2], std::strerror(errno));
  return 127;
}
