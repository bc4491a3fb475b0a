// Directory-relative file-system calls that Node's fs module does not offer.
//
// Restores must never leave their target: every folder and file is created relative to an open
// directory handle, one name at a time, without following symlinks (openat, mkdirat, renameat
// with O_NOFOLLOW), so a symlink swapped into the path between two calls cannot steer a write
// elsewhere. The same handles let a restore set nanosecond times (utimensat), owners of
// symlinks (fchownat), create FIFOs and device nodes (mknodat) and hard links (linkat), and
// find the holes of sparse files (lseek SEEK_DATA/SEEK_HOLE): none of which Node exposes.
// Owner names are looked up through the C library (getpwuid_r and friends), so users and
// groups from NSS (LDAP, SSSD) resolve as they do for ls and tar, not only those in /etc/passwd.
//
// Every function is synchronous: each is one short system call on a local handle. Errors are
// thrown as Error objects with `code` (e.g. "ELOOP"), `errno` and `syscall`, like Node's own.
// Names may be strings (UTF-8) or Buffers (any bytes but NUL), since file names are bytes.

#define NAPI_VERSION 8
#include <node_api.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

napi_value ThrowErrno(napi_env env, const char* syscall, int error) {
  const char* name = strerrorname_np(error);
  std::string code = name != nullptr ? name : "EUNKNOWN";
  std::string message = code + ": " + strerror(error) + ", " + syscall;
  napi_value js_code, js_message, js_error, js_errno, js_syscall;
  napi_create_string_utf8(env, code.c_str(), NAPI_AUTO_LENGTH, &js_code);
  napi_create_string_utf8(env, message.c_str(), NAPI_AUTO_LENGTH, &js_message);
  napi_create_error(env, js_code, js_message, &js_error);
  napi_create_int32(env, -error, &js_errno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &js_syscall);
  napi_set_named_property(env, js_error, "errno", js_errno);
  napi_set_named_property(env, js_error, "syscall", js_syscall);
  napi_throw(env, js_error);
  return nullptr;
}

napi_value ThrowType(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return nullptr;
}

struct Args {
  napi_env env;
  size_t count = 8;
  napi_value values[8];
  bool ok = true;

  Args(napi_env e, napi_callback_info info) : env(e) {
    napi_get_cb_info(env, info, &count, values, nullptr, nullptr);
  }

  int32_t Int(size_t i) {
    int32_t value = 0;
    if (!ok) return 0;
    if (i >= count || napi_get_value_int32(env, values[i], &value) != napi_ok) {
      ok = false;
      ThrowType(env, "expected an integer argument");
    }
    return value;
  }

  int64_t Int64(size_t i) {
    int64_t value = 0;
    if (!ok) return 0;
    if (i >= count || napi_get_value_int64(env, values[i], &value) != napi_ok) {
      ok = false;
      ThrowType(env, "expected an integer argument");
    }
    return value;
  }

  // A BigInt (nanoseconds since the epoch and the like) that must fit in 64 signed bits.
  int64_t BigInt64(size_t i) {
    int64_t value = 0;
    bool lossless = false;
    if (!ok) return 0;
    if (i >= count || napi_get_value_bigint_int64(env, values[i], &value, &lossless) != napi_ok || !lossless) {
      ok = false;
      ThrowType(env, "expected a BigInt that fits in 64 bits");
    }
    return value;
  }

  // A name or path: a string (UTF-8) or a Buffer of raw bytes; never one holding NUL.
  std::string Bytes(size_t i) {
    if (!ok) return std::string();
    if (i >= count) {
      ok = false;
      ThrowType(env, "expected a string or Buffer argument");
      return std::string();
    }
    bool is_buffer = false;
    napi_is_buffer(env, values[i], &is_buffer);
    std::string result;
    if (is_buffer) {
      void* data = nullptr;
      size_t length = 0;
      napi_get_buffer_info(env, values[i], &data, &length);
      result.assign(static_cast<const char*>(data), length);
    } else {
      size_t length = 0;
      if (napi_get_value_string_utf8(env, values[i], nullptr, 0, &length) != napi_ok) {
        ok = false;
        ThrowType(env, "expected a string or Buffer argument");
        return std::string();
      }
      result.resize(length + 1);
      napi_get_value_string_utf8(env, values[i], &result[0], length + 1, &length);
      result.resize(length);
    }
    if (result.find('\0') != std::string::npos) {
      ok = false;
      ThrowType(env, "a file name must not contain NUL bytes");
    }
    return result;
  }
};

napi_value Undefined(napi_env env) {
  napi_value value;
  napi_get_undefined(env, &value);
  return value;
}

napi_value Number(napi_env env, int64_t number) {
  napi_value value;
  napi_create_int64(env, number, &value);
  return value;
}

// openat(dirfd, name, flags, mode) -> fd. O_CLOEXEC is always added.
napi_value OpenAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int dirfd = args.Int(0);
  std::string name = args.Bytes(1);
  int flags = args.Int(2);
  int mode = args.Int(3);
  if (!args.ok) return nullptr;
  int fd;
  do fd = openat(dirfd, name.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return ThrowErrno(env, "openat", errno);
  return Number(env, fd);
}

// mkdirat(dirfd, name, mode)
napi_value MkdirAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int dirfd = args.Int(0);
  std::string name = args.Bytes(1);
  int mode = args.Int(2);
  if (!args.ok) return nullptr;
  if (mkdirat(dirfd, name.c_str(), static_cast<mode_t>(mode)) != 0) return ThrowErrno(env, "mkdirat", errno);
  return Undefined(env);
}

// symlinkat(target, dirfd, name)
napi_value SymlinkAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  std::string target = args.Bytes(0);
  int dirfd = args.Int(1);
  std::string name = args.Bytes(2);
  if (!args.ok) return nullptr;
  if (symlinkat(target.c_str(), dirfd, name.c_str()) != 0) return ThrowErrno(env, "symlinkat", errno);
  return Undefined(env);
}

// renameat(olddirfd, oldname, newdirfd, newname): neither name is followed if it is a symlink.
napi_value RenameAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int olddirfd = args.Int(0);
  std::string oldname = args.Bytes(1);
  int newdirfd = args.Int(2);
  std::string newname = args.Bytes(3);
  if (!args.ok) return nullptr;
  if (renameat(olddirfd, oldname.c_str(), newdirfd, newname.c_str()) != 0) return ThrowErrno(env, "renameat", errno);
  return Undefined(env);
}

// linkat(olddirfd, oldname, newdirfd, newname): a hard link; a symlink at oldname is linked itself.
napi_value LinkAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int olddirfd = args.Int(0);
  std::string oldname = args.Bytes(1);
  int newdirfd = args.Int(2);
  std::string newname = args.Bytes(3);
  if (!args.ok) return nullptr;
  if (linkat(olddirfd, oldname.c_str(), newdirfd, newname.c_str(), 0) != 0) return ThrowErrno(env, "linkat", errno);
  return Undefined(env);
}

// unlinkat(dirfd, name, removeDirectory)
napi_value UnlinkAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int dirfd = args.Int(0);
  std::string name = args.Bytes(1);
  int remove_directory = args.Int(2);
  if (!args.ok) return nullptr;
  if (unlinkat(dirfd, name.c_str(), remove_directory ? AT_REMOVEDIR : 0) != 0) return ThrowErrno(env, "unlinkat", errno);
  return Undefined(env);
}

// fchownat(dirfd, name, uid, gid): never follows a symlink at name (changes the link itself).
napi_value LchownAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int dirfd = args.Int(0);
  std::string name = args.Bytes(1);
  int64_t uid = args.Int64(2);
  int64_t gid = args.Int64(3);
  if (!args.ok) return nullptr;
  if (fchownat(dirfd, name.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid), AT_SYMLINK_NOFOLLOW) != 0) {
    return ThrowErrno(env, "fchownat", errno);
  }
  return Undefined(env);
}

timespec FromNanoseconds(int64_t ns) {
  timespec spec;
  spec.tv_sec = ns / 1000000000;
  spec.tv_nsec = ns % 1000000000;
  if (spec.tv_nsec < 0) {
    spec.tv_sec -= 1;
    spec.tv_nsec += 1000000000;
  }
  return spec;
}

// utimensat(dirfd, name, atimeNs, mtimeNs): nanosecond times, never following a symlink at name.
napi_value LutimesAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int dirfd = args.Int(0);
  std::string name = args.Bytes(1);
  int64_t atime = args.BigInt64(2);
  int64_t mtime = args.BigInt64(3);
  if (!args.ok) return nullptr;
  timespec times[2] = {FromNanoseconds(atime), FromNanoseconds(mtime)};
  if (utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return ThrowErrno(env, "utimensat", errno);
  return Undefined(env);
}

// futimens(fd, atimeNs, mtimeNs)
napi_value Futimens(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int fd = args.Int(0);
  int64_t atime = args.BigInt64(1);
  int64_t mtime = args.BigInt64(2);
  if (!args.ok) return nullptr;
  timespec times[2] = {FromNanoseconds(atime), FromNanoseconds(mtime)};
  if (futimens(fd, times) != 0) return ThrowErrno(env, "futimens", errno);
  return Undefined(env);
}

// mknodat(dirfd, name, mode, rdev): a FIFO (S_IFIFO) or a character/block device node; rdev
// is the device number as fs.Stats reports it.
napi_value MknodAt(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int dirfd = args.Int(0);
  std::string name = args.Bytes(1);
  int mode = args.Int(2);
  int64_t rdev = args.Int64(3);
  if (!args.ok) return nullptr;
  if (mknodat(dirfd, name.c_str(), static_cast<mode_t>(mode), static_cast<dev_t>(rdev)) != 0) {
    return ThrowErrno(env, "mknodat", errno);
  }
  return Undefined(env);
}

// lseek(fd, offset, whence) for SEEK_DATA (3) and SEEK_HOLE (4): the next data or hole at or
// after offset; -1 when there is no more data (ENXIO).
napi_value SeekDataOrHole(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int fd = args.Int(0);
  int64_t offset = args.Int64(1);
  int whence = args.Int(2);
  if (!args.ok) return nullptr;
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return ThrowType(env, "whence must be SEEK_DATA or SEEK_HOLE");
  off_t result = lseek(fd, static_cast<off_t>(offset), whence);
  if (result < 0) {
    if (errno == ENXIO) return Number(env, -1);
    return ThrowErrno(env, "lseek", errno);
  }
  return Number(env, result);
}

// readdirfd(dirfd) -> Buffer[]: the names in an open directory (without "." and ".."), as bytes.
napi_value ReadDirFd(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int dirfd = args.Int(0);
  if (!args.ok) return nullptr;
  int copy = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (copy < 0) return ThrowErrno(env, "openat", errno);
  DIR* dir = fdopendir(copy);
  if (dir == nullptr) {
    int error = errno;
    close(copy);
    return ThrowErrno(env, "fdopendir", error);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    dirent* item = readdir(dir);
    if (item == nullptr) break;
    if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0) continue;
    names.emplace_back(item->d_name);
  }
  int error = errno;
  closedir(dir);
  if (error != 0) return ThrowErrno(env, "readdir", error);
  napi_value array;
  napi_create_array_with_length(env, names.size(), &array);
  for (size_t i = 0; i < names.size(); i++) {
    napi_value buffer;
    void* data = nullptr;
    napi_create_buffer_copy(env, names[i].size(), names[i].data(), &data, &buffer);
    napi_set_element(env, array, static_cast<uint32_t>(i), buffer);
  }
  return array;
}

// Owner lookups through NSS. Each returns null when the id or name is unknown (or the lookup
// fails): callers then fall back to numbers, as tar and restic do.
template <typename Entry, typename Key, int (*Lookup)(Key, Entry*, char*, size_t, Entry**)>
bool LookUp(Key key, Entry* entry, std::vector<char>* buffer) {
  buffer->resize(4096);
  for (;;) {
    Entry* found = nullptr;
    int error = Lookup(key, entry, buffer->data(), buffer->size(), &found);
    if (error == ERANGE && buffer->size() < (1u << 20)) {
      buffer->resize(buffer->size() * 2);
      continue;
    }
    return error == 0 && found != nullptr;
  }
}

napi_value Null(napi_env env) {
  napi_value value;
  napi_get_null(env, &value);
  return value;
}

napi_value String(napi_env env, const char* text) {
  napi_value value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  return value;
}

// userName(uid) -> string | null
napi_value UserName(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int64_t uid = args.Int64(0);
  if (!args.ok) return nullptr;
  passwd entry;
  std::vector<char> buffer;
  if (!LookUp<passwd, uid_t, getpwuid_r>(static_cast<uid_t>(uid), &entry, &buffer)) return Null(env);
  return String(env, entry.pw_name);
}

// groupName(gid) -> string | null
napi_value GroupName(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int64_t gid = args.Int64(0);
  if (!args.ok) return nullptr;
  group entry;
  std::vector<char> buffer;
  if (!LookUp<group, gid_t, getgrgid_r>(static_cast<gid_t>(gid), &entry, &buffer)) return Null(env);
  return String(env, entry.gr_name);
}

// userId(name) -> number | null
napi_value UserId(napi_env env, napi_callback_info info) {
  Args args(env, info);
  std::string name = args.Bytes(0);
  if (!args.ok) return nullptr;
  passwd entry;
  std::vector<char> buffer;
  if (!LookUp<passwd, const char*, getpwnam_r>(name.c_str(), &entry, &buffer)) return Null(env);
  return Number(env, entry.pw_uid);
}

// groupId(name) -> number | null
napi_value GroupId(napi_env env, napi_callback_info info) {
  Args args(env, info);
  std::string name = args.Bytes(0);
  if (!args.ok) return nullptr;
  group entry;
  std::vector<char> buffer;
  if (!LookUp<group, const char*, getgrnam_r>(name.c_str(), &entry, &buffer)) return Null(env);
  return Number(env, entry.gr_gid);
}

// fdxattrs(fd) -> [name, Buffer][]: every extended attribute of an open file or folder. The
// @napi-rs/xattr binding takes paths as UTF-8 strings only; this reads the attributes of an
// entry whose name is not UTF-8, which no string can name, through a handle instead.
napi_value FdXattrs(napi_env env, napi_callback_info info) {
  Args args(env, info);
  int fd = args.Int(0);
  if (!args.ok) return nullptr;
  std::vector<char> names;
  for (;;) {
    ssize_t size = flistxattr(fd, nullptr, 0);
    if (size < 0) return ThrowErrno(env, "flistxattr", errno);
    names.resize(static_cast<size_t>(size));
    ssize_t got = size == 0 ? 0 : flistxattr(fd, names.data(), names.size());
    if (got >= 0) {
      names.resize(static_cast<size_t>(got));
      break;
    }
    if (errno != ERANGE) return ThrowErrno(env, "flistxattr", errno);
  }
  napi_value array;
  napi_create_array(env, &array);
  uint32_t index = 0;
  for (size_t start = 0; start < names.size();) {
    std::string name(names.data() + start);
    start += name.size() + 1;
    std::vector<char> value;
    ssize_t got = -1;
    for (int attempt = 0; attempt < 8; attempt++) {
      ssize_t size = fgetxattr(fd, name.c_str(), nullptr, 0);
      if (size < 0) break;
      value.resize(size > 0 ? static_cast<size_t>(size) : 1);
      got = fgetxattr(fd, name.c_str(), value.data(), static_cast<size_t>(size));
      if (got >= 0 || errno != ERANGE) break;  // ERANGE: it grew between the two calls
    }
    if (got < 0) {
      if (errno == ENODATA) continue;  // removed between the list and the read
      return ThrowErrno(env, "fgetxattr", errno);
    }
    napi_value pair, js_name, js_value;
    void* data = nullptr;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_string_utf8(env, name.c_str(), name.size(), &js_name);
    napi_create_buffer_copy(env, static_cast<size_t>(got), value.data(), &data, &js_value);
    napi_set_element(env, pair, 0, js_name);
    napi_set_element(env, pair, 1, js_value);
    napi_set_element(env, array, index++, pair);
  }
  return array;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"openat", nullptr, OpenAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"mkdirat", nullptr, MkdirAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"symlinkat", nullptr, SymlinkAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"renameat", nullptr, RenameAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"linkat", nullptr, LinkAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unlinkat", nullptr, UnlinkAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"lchownat", nullptr, LchownAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"lutimesat", nullptr, LutimesAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"futimens", nullptr, Futimens, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"mknodat", nullptr, MknodAt, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"seekDataOrHole", nullptr, SeekDataOrHole, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"readdirfd", nullptr, ReadDirFd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fdxattrs", nullptr, FdXattrs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"userName", nullptr, UserName, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupName", nullptr, GroupName, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"userId", nullptr, UserId, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupId", nullptr, GroupId, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
