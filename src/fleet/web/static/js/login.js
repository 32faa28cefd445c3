// Landing page: sign in by password or QR badge (USB scanner or camera), then module cards.
import { auth, el } from "./api.js";
import { pagesFor, ready } from "./shell.js";

const errorBox = document.getElementById("login-error");

function showError(e) {
  errorBox.textContent = e.status === 429
    ? `${e.message} (retry in ${e.retryAfter || "a few"} s)`
    : e.message;
  errorBox.hidden = false;
}

async function afterLogin() {
  location.assign("/");
}

document.getElementById("password-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  errorBox.hidden = true;
  const form = new FormData(ev.target);
  try {
    await auth.login(form.get("username"), form.get("password"));
    await afterLogin();
  } catch (e) {
    showError(e);
  }
});

async function loginWithCode(code) {
  errorBox.hidden = true;
  try {
    await auth.loginQr(code.trim());
    await afterLogin();
  } catch (e) {
    showError(e);
  }
}

document.getElementById("qr-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loginWithCode(document.getElementById("qr-code").value);
});

// Camera scanning: frames from getUserMedia decoded with the vendored jsQR.
let stream = null;
function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  document.getElementById("camera").hidden = true;
}
document.getElementById("camera-stop").addEventListener("click", stopCamera);
document.getElementById("camera-start").addEventListener("click", async () => {
  errorBox.hidden = true;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError(new Error("No camera access in this browser; use the badge field instead."));
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (e) {
    showError(new Error(`Camera unavailable: ${e.message}`));
    return;
  }
  const video = document.getElementById("camera-video");
  const canvas = document.getElementById("camera-canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  video.srcObject = stream;
  document.getElementById("camera").hidden = false;
  await video.play();
  const tick = () => {
    if (!stream) return;
    if (video.readyState === video.HAVE_ENOUGH_DATA) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      const frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        stopCamera();
        loginWithCode(found.data);
        return;
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
});

function showSignIn() {
  document.getElementById("home-view").hidden = true;
  document.getElementById("login-view").hidden = false;
  document.getElementById("username").focus();
}
window.addEventListener("fleet:signed-out", showSignIn);

ready.then((me) => {
  if (!me) {
    showSignIn();
    return;
  }
  document.getElementById("home-view").hidden = false;
  document.getElementById("home-name").textContent = me.username;
  document.getElementById("home-role").textContent = me.active_role;
  const pages = pagesFor(me);
  document.getElementById("module-cards").replaceChildren(
    ...pages.map((p) => el("a", { class: "card module-card", href: p.path }, el("strong", {}, p.title), el("span", { class: "hint" }, p.module))),
  );
  document.getElementById("no-modules").hidden = pages.length > 0;
});
