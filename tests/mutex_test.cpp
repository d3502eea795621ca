// The annotated mutexes (base/mutex.h): they lock like the std types they wrap, and MutexLock's
// native() lock works with std::condition_variable.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <thread>

#include "base/mutex.h"

namespace {

struct Counter {
  anpr::Mutex mu;
  std::condition_variable cv;
  int value GUARDED_BY(mu) = 0;

  void add(int n) {
    {
      anpr::MutexLock lock(mu);
      value += n;
    }
    cv.notify_all();
  }
  int wait_for_at_least(int n) {
    anpr::MutexLock lock(mu);
    cv.wait(lock.native(), [&]() REQUIRES(mu) { return value >= n; });
    return value;
  }
};

TEST(MutexTest, MutexLockExcludesAndWaitsOnAConditionVariable) {
  Counter c;
  std::thread waiter([&] { EXPECT_GE(c.wait_for_at_least(4000), 4000); });
  std::thread a([&] { for (int i = 0; i < 2000; ++i) c.add(1); });
  std::thread b([&] { for (int i = 0; i < 2000; ++i) c.add(1); });
  a.join();
  b.join();
  waiter.join();
  anpr::MutexLock lock(c.mu);
  EXPECT_EQ(c.value, 4000);
}

TEST(MutexTest, MutexLockUnlocksEarlyAndRelocks) {
  anpr::Mutex mu;
  anpr::MutexLock lock(mu);
  lock.unlock();
  {
    const bool taken = mu.try_lock();
    EXPECT_TRUE(taken);
    if (taken) mu.unlock();
  }
  lock.lock();
  std::thread other([&] {
    const bool taken = mu.try_lock();
    EXPECT_FALSE(taken);
    if (taken) mu.unlock();
  });
  other.join();
}

TEST(MutexTest, ReaderLocksShareAndAWriterLockExcludes) {
  anpr::SharedMutex mu;
  {
    anpr::ReaderLock r1(mu);
    std::thread other([&] {
      const bool shared = mu.try_lock_shared();  // readers share
      EXPECT_TRUE(shared);
      if (shared) mu.unlock_shared();
      const bool taken = mu.try_lock();  // a writer waits for them
      EXPECT_FALSE(taken);
      if (taken) mu.unlock();
    });
    other.join();
  }
  {
    anpr::WriterLock w(mu);
    std::thread other([&] {
      const bool taken = mu.try_lock_shared();
      EXPECT_FALSE(taken);
      if (taken) mu.unlock_shared();
    });
    other.join();
  }
  const bool taken = mu.try_lock();
  EXPECT_TRUE(taken);
  if (taken) mu.unlock();
}

}  // namespace
