// Clang's thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html):
// which mutex guards which member, which functions need it held, which take or release it.
// Under clang the build passes -Wthread-safety, so an access to a GUARDED_BY member without its
// mutex, or a call of a REQUIRES function without it, is a compiler warning. Under g++ every
// macro expands to nothing.
//
// libstdc++'s std::mutex is not annotated: guard members with anpr::Mutex / anpr::SharedMutex
// and their scoped locks (base/mutex.h).
//
//   anpr::Mutex mu_;
//   int count_ GUARDED_BY(mu_) = 0;
//   void bump() REQUIRES(mu_);          // the caller holds mu_
//   void reset() EXCLUDES(mu_);         // takes mu_ itself: the caller must not hold it
//   auto pred = [&]() REQUIRES(mu_) { return count_ > 0; };  // a lambda run under mu_
//
// NO_THREAD_SAFETY_ANALYSIS is the last resort, for a function whose locking the analysis
// cannot follow; say why next to it.
#pragma once

#if defined(__clang__)
#define ANPR_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ANPR_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are capabilities (mutexes); `x` names the kind in messages.
#define CAPABILITY(x) ANPR_THREAD_ANNOTATION(capability(x))
// On an RAII class that holds a capability from construction to destruction.
#define SCOPED_CAPABILITY ANPR_THREAD_ANNOTATION(scoped_lockable)

// On a data member: read and written only with the capability held (reads: at least shared).
#define GUARDED_BY(x) ANPR_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: the data it points to is guarded (the pointer itself is not).
#define PT_GUARDED_BY(x) ANPR_THREAD_ANNOTATION(pt_guarded_by(x))

// Lock order between capabilities (checked only with -Wthread-safety-beta).
#define ACQUIRED_BEFORE(...) ANPR_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) ANPR_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))

// On a function: the caller must hold the capabilities (exclusively / at least shared).
#define REQUIRES(...) ANPR_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) ANPR_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))

// On a function: it takes / releases the capabilities (none named: the object itself).
#define ACQUIRE(...) ANPR_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) ANPR_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) ANPR_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) ANPR_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) ANPR_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
// It tries to take them; the first argument is the return value that means success.
#define TRY_ACQUIRE(...) ANPR_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) ANPR_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))

// On a function: the caller must not hold the capabilities (the function takes them itself).
#define EXCLUDES(...) ANPR_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// On a function: it checks at run time that the capability is held; the analysis assumes so after.
#define ASSERT_CAPABILITY(x) ANPR_THREAD_ANNOTATION(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) ANPR_THREAD_ANNOTATION(assert_shared_capability(x))

// On a function: it returns a reference to the capability `x`.
#define RETURN_CAPABILITY(x) ANPR_THREAD_ANNOTATION(lock_returned(x))

// On a function: the analysis skips its body. Say why next to it.
#define NO_THREAD_SAFETY_ANALYSIS ANPR_THREAD_ANNOTATION(no_thread_safety_analysis)
