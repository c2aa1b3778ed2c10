// The Live tab's WebRTC client (run once by the tab's HTML component: `element` is its root).
// window.mrLive.offer() opens the camera and returns the browser's offer (JSON; {"error": ...} when it
// cannot), accept(answer) applies the server's answer and waits for the connection ("connected",
// "off" when the server chose the HTTP stream, or "failed: ..."), stop() ends it.
const box = element.querySelector(".mr-live");
const config = JSON.parse(box.dataset.liveConfig || "{}");
const camera = element.querySelector("#live-rtc-camera");
const edited = element.querySelector("#live-rtc-out");
let pc = null;
let stream = null;

function waitFor(target, event, done, ms) {
  return new Promise((resolve) => {
    if (done()) return resolve(true);
    const timer = setTimeout(() => { target.removeEventListener(event, check); resolve(done()); }, ms);
    function check() {
      if (done()) { clearTimeout(timer); target.removeEventListener(event, check); resolve(true); }
    }
    target.addEventListener(event, check);
  });
}

async function stop() {
  if (pc) { try { pc.close(); } catch (e) { /* already closed */ } }
  pc = null;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  camera.srcObject = null;
  edited.srcObject = null;
  box.dataset.state = "off";
  return "off";
}

async function offer() {
  await stop();
  if (!config.webrtc) return JSON.stringify({ error: config.reason || "WebRTC is off on this server" });
  if (!window.RTCPeerConnection || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return JSON.stringify({ error: "this browser offers no WebRTC" });
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
      audio: false,
    });
  } catch (e) {
    return JSON.stringify({ error: `the webcam could not be opened (${e.name})`, camera: true });
  }
  camera.srcObject = stream;
  pc = new RTCPeerConnection({ iceServers: config.iceServers || [] });
  pc.addTransceiver(stream.getVideoTracks()[0], { direction: "sendrecv", streams: [stream] });
  pc.ontrack = (ev) => {
    // show each frame as soon as it arrives (no playout buffer beyond what decoding needs)
    if ("jitterBufferTarget" in ev.receiver) ev.receiver.jitterBufferTarget = 0;
    if ("playoutDelayHint" in ev.receiver) ev.receiver.playoutDelayHint = 0;
    edited.srcObject = ev.streams[0] || new MediaStream([ev.track]);
  };
  box.dataset.state = "connecting";
  await pc.setLocalDescription(await pc.createOffer());
  const conn = pc;
  await waitFor(conn, "icegatheringstatechange", () => conn.iceGatheringState === "complete", 4000);
  return JSON.stringify({ type: conn.localDescription.type, sdp: conn.localDescription.sdp });
}

async function accept(answer) {
  let desc = {};
  try { desc = JSON.parse(answer || "{}"); } catch (e) { desc = {}; }
  if (!pc || !desc.sdp) { await stop(); return "off"; }
  const conn = pc;
  try {
    await conn.setRemoteDescription(desc);
  } catch (e) {
    await stop();
    return `failed: the server's answer was refused (${e.name})`;
  }
  const ms = 1000 * (config.connectTimeout || 10);
  const settled = () => ["connected", "failed", "closed"].includes(conn.connectionState);
  await waitFor(conn, "connectionstatechange", settled, ms);
  if (conn.connectionState !== "connected" || conn !== pc) {
    const state = conn.connectionState;
    await stop();
    return state === "failed"
      ? "failed: no network path to the server was found"
      : `failed: the connection did not open within ${ms / 1000} s (${state})`;
  }
  box.dataset.state = "connected";
  pace(conn);
  conn.addEventListener("connectionstatechange", () => {
    if (conn === pc && ["failed", "closed", "disconnected"].includes(conn.connectionState)) {
      box.dataset.state = conn.connectionState;
    }
  });
  return "connected";
}

// The camera is sent at about the rate the server edits it (a few frames/s above, so that the rate can
// rise again): frames the server would drop are then neither encoded here nor decoded there.
const PACE_MIN = 10, PACE_MAX = 30, PACE_ABOVE = 5;
let sendRate = null;
function pace(conn) {
  const sender = conn.getSenders().find((s) => s.track && s.track.kind === "video");
  if (!sender || !sender.getParameters || !sender.setParameters) return;
  let last = null;
  let rate = PACE_MAX;
  sendRate = rate;
  const timer = setInterval(async () => {
    if (conn !== pc || conn.connectionState !== "connected") { clearInterval(timer); return; }
    let now = null;
    (await conn.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") now = [r.framesDecoded || 0, r.timestamp];
    });
    if (!now) return;
    if (last && now[1] > last[1]) {
      const edited = (1000 * (now[0] - last[0])) / (now[1] - last[1]);
      const want = Math.max(PACE_MIN, Math.min(PACE_MAX, Math.round(edited + PACE_ABOVE)));
      if (want !== rate && (Math.abs(want - rate) >= 2 || want === PACE_MAX)) {
        const params = sender.getParameters();
        if (params.encodings && params.encodings.length) {
          params.encodings[0].maxFramerate = want;
          try { await sender.setParameters(params); rate = sendRate = want; } catch (e) { /* kept as it was */ }
        }
      }
    }
    last = now;
  }, 1000);
}

// The connection's own counters (what the browser encoded, received, buffered and decoded), for diagnosis.
async function stats() {
  if (!pc) return null;
  const out = {};
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      out.inbound = {
        framesReceived: r.framesReceived, framesDecoded: r.framesDecoded, framesDropped: r.framesDropped,
        jitterBufferDelay: r.jitterBufferDelay, jitterBufferEmittedCount: r.jitterBufferEmittedCount,
        totalDecodeTime: r.totalDecodeTime, bytesReceived: r.bytesReceived,
      };
    }
    if (r.type === "outbound-rtp" && r.kind === "video") {
      out.outbound = {
        framesEncoded: r.framesEncoded, totalEncodeTime: r.totalEncodeTime, frameWidth: r.frameWidth,
        qualityLimitationReason: r.qualityLimitationReason, bytesSent: r.bytesSent,
        framesPerSecond: r.framesPerSecond,
      };
    }
  });
  out.sendRate = sendRate;
  return out;
}

window.mrLive = { offer, accept, stop, stats, state: () => box.dataset.state || "off" };
