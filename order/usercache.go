package order

import (
	"sync"
	"time"
)

// UserCacheTTL is how long an instance answers "does this user exist, and since when are their
// tokens revoked" from memory rather than from the users table. Every authenticated request asks
// it, so reading the table each time cost a read per request; a revocation made on another
// instance therefore takes effect there within this long, and at once on the instance that made
// it (RevokeUser forgets the user).
const UserCacheTTL = time.Second

// userCache holds the users tokens named in the last UserCacheTTL. Ages are measured on the
// monotonic clock, not the service's Clock: a test that stops business time must not stop a
// revocation from reaching another instance.
type userCache struct {
	mu    sync.Mutex
	users map[string]cachedUser
	gen   uint64    // bumped by forget, so a read that began before a revocation is not kept
	swept time.Time // when entries older than UserCacheTTL were last dropped
}

type cachedUser struct {
	user User
	at   time.Time
}

// get returns a copy of the user with id read within UserCacheTTL, and the generation to hand
// to put after a miss.
func (c *userCache) get(id string) (*User, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.users[id]; ok && time.Since(e.at) < UserCacheTTL {
		u := e.user
		return &u, c.gen
	}
	return nil, c.gen
}

// put keeps u, read from the database when the cache was at generation gen; a forget since then
// wins (the read may predate the revocation). Entries past their age are dropped at most once
// per UserCacheTTL, so the map holds about one second's users.
func (c *userCache) put(u *User, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	now := time.Now()
	if c.users == nil {
		c.users = map[string]cachedUser{}
	}
	if now.Sub(c.swept) >= UserCacheTTL {
		for id, e := range c.users {
			if now.Sub(e.at) >= UserCacheTTL {
				delete(c.users, id)
			}
		}
		c.swept = now
	}
	c.users[u.ID] = cachedUser{user: *u, at: now}
}

// forget drops the user (their tokens were just revoked here).
func (c *userCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.users, id)
	c.gen++
}
