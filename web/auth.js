// Login shared by the pages: the token lives in sessionStorage (this tab only) and goes in an
// Authorization header with every API call.
'use strict';
const Auth = (() => {
  const KEY = 'anpr.token';
  const token = () => sessionStorage.getItem(KEY);
  const headers = (extra) => Object.assign({ Authorization: 'Bearer ' + token() }, extra || {});

  async function api(path, options) {
    const o = Object.assign({}, options || {});
    o.headers = headers(o.headers);
    const res = await fetch(path, o);
    if (res.status === 401) { logout('Your token is not valid (any more). Log in again.'); throw new Error('unauthorized'); }
    return res;
  }

  function logout(message) {
    sessionStorage.removeItem(KEY);
    showLogin(message || '');
  }

  function showLogin(message) {
    document.getElementById('app').hidden = true;
    document.getElementById('login').hidden = false;
    document.getElementById('logout').hidden = true;
    document.getElementById('who').textContent = '';
    document.getElementById('login-error').textContent = message || '';
    document.getElementById('token').focus();
  }

  // Resolves with {name, role, control_room} once a valid token is known.
  function start(onReady) {
    const form = document.getElementById('login-form');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const t = document.getElementById('token').value.trim();
      if (!t) return;
      sessionStorage.setItem(KEY, t);
      document.getElementById('token').value = '';
      await check();
    });
    document.getElementById('logout').addEventListener('click', () => { logout(''); location.reload(); });
    async function check() {
      if (!token()) return showLogin('');
      let res;
      try { res = await fetch('/api/v1/me', { headers: headers() }); }
      catch (e) { return showLogin('The processor cannot be reached.'); }
      if (res.status !== 200) { sessionStorage.removeItem(KEY); return showLogin('That token is not valid.'); }
      const me = await res.json();
      document.getElementById('login').hidden = true;
      document.getElementById('app').hidden = false;
      document.getElementById('logout').hidden = false;
      document.getElementById('who').textContent = me.name + ' (' + me.role +
        (me.role === 'controlroom' ? ', ' + (me.control_room === '*' ? 'all rooms' : me.control_room) : '') + ')';
      onReady(me);
    }
    check();
  }
  return { start, api, token, headers, logout };
})();
