// ccapki's JSSE harness: TLS servers and clients on the JVM's own TLS stack (SunJSSE, PKIX).
//
// One long-lived JVM serves every Java endpoint of a lab. It reads one JSON request per line on
// stdin and writes one JSON answer per line on stdout (the answer carries the request's "id").
// Requests:
//   {"id":1,"op":"serve","name":"cam/control","host":"127.0.0.1","keystore":B64_P12,
//    "password":"pw","trust":PEM,"client_auth":"need"|"want"|"none","from":"cam","role":"cam"}
//       -> {"id":1,"ok":true,"port":40123}       (a new endpoint, or new material on the same port)
//   {"id":2,"op":"close","name":"cam/control"}  -> {"id":2,"ok":true}
//   {"id":3,"op":"connect","host":"127.0.0.1","port":40123,"server_name":"cam.example",
//    "keystore":B64_P12|null,"password":"pw","trust":PEM,"check_hostname":true,
//    "hello":"{...}"|null,"timeout":5}
//       -> {"id":3,"ok":true,"reply":"...","handshake_ms":12.5}
//        | {"id":3,"ok":false,"error":"javax.net.ssl.SSLHandshakeException: ...","server_error":...}
//   {"id":4,"op":"quit"}
// Trust uses TrustManagerFactory.getDefaultAlgorithm() (PKIX) over a KeyStore holding every
// certificate of "trust" as a trusted entry, exactly as a Tomcat truststore; keys use
// KeyManagerFactory.getDefaultAlgorithm(). With "check_hostname" the client sets the endpoint
// identification algorithm "HTTPS" (RFC 2818 name checks). Failures are reported as the
// exception's class and message (and its root cause). The JVM exits when stdin closes.
// Answers are written with ", " and ": " separators, as Python's json.dumps does.
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public final class CcaJsse {
    private static final PrintStream OUT =
            new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                    StandardCharsets.UTF_8);
    private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
    });
    private static final Map<String, Endpoint> ENDPOINTS = new ConcurrentHashMap<>();

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            final Map<String, Object> req;
            try {
                req = Json.object(line);
            } catch (RuntimeException e) {
                answer(Map.of("id", -1, "ok", false, "error", describe(e)));
                continue;
            }
            String op = str(req, "op", "");
            if (op.equals("quit")) {
                answer(Map.of("id", req.getOrDefault("id", -1), "ok", true));
                break;
            }
            // Connections run in parallel; endpoint changes run in order on this thread.
            if (op.equals("connect")) {
                POOL.execute(() -> handle(req));
            } else {
                handle(req);
            }
        }
        for (Endpoint e : ENDPOINTS.values()) {
            e.close();
        }
        System.exit(0);
    }

    private static void handle(Map<String, Object> req) {
        Object id = req.getOrDefault("id", -1);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        try {
            String op = str(req, "op", "");
            switch (op) {
                case "ping" -> out.put("ok", true);
                case "serve" -> {
                    out.put("ok", true);
                    out.put("port", serve(req));
                }
                case "close" -> {
                    Endpoint e = ENDPOINTS.remove(str(req, "name", ""));
                    if (e != null) {
                        e.close();
                    }
                    out.put("ok", true);
                }
                case "connect" -> out.putAll(connect(req));
                default -> throw new IllegalArgumentException("unknown op " + op);
            }
        } catch (Exception e) {
            out.put("ok", false);
            out.put("error", describe(e));
        }
        answer(out);
    }

    private static synchronized void answer(Map<String, ?> out) {
        OUT.println(Json.write(out));
        OUT.flush();
    }

    // -- contexts --------------------------------------------------------------------------

    /** Contexts by key store and trust store: building one (PKCS#12 decryption) is costly. */
    private static final Map<String, SSLContext> CONTEXTS = new ConcurrentHashMap<>();

    private static SSLContext context(Map<String, Object> req) throws Exception {
        String key = str(req, "keystore", "-") + "|" + str(req, "password", "") + "|" + str(req, "trust", "");
        SSLContext cached = CONTEXTS.get(key);
        if (cached != null) {
            return cached;
        }
        if (CONTEXTS.size() > 256) {
            CONTEXTS.clear();
        }
        SSLContext made = newContext(req);
        CONTEXTS.put(key, made);
        return made;
    }

    private static SSLContext newContext(Map<String, Object> req) throws Exception {
        KeyManager[] kms = null;
        String p12 = str(req, "keystore", null);
        if (p12 != null) {
            char[] pw = str(req, "password", "").toCharArray();
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(new ByteArrayInputStream(Base64.getDecoder().decode(p12)), pw);
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, pw);
            kms = kmf.getKeyManagers();
        }
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        String trust = str(req, "trust", "");
        if (!trust.isBlank()) {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            int n = 0;
            for (Certificate c : cf.generateCertificates(
                    new ByteArrayInputStream(trust.getBytes(StandardCharsets.US_ASCII)))) {
                ts.setCertificateEntry("anchor-" + n++, c);
            }
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kms, tmf.getTrustManagers(), null);
        return ctx;
    }

    // -- servers ---------------------------------------------------------------------------

    private static int serve(Map<String, Object> req) throws Exception {
        String name = str(req, "name", "");
        SSLContext ctx = context(req);
        String auth = str(req, "client_auth", "need");
        Endpoint e = ENDPOINTS.get(name);
        if (e != null) {
            e.update(ctx, auth, req);
            return e.server.getLocalPort();
        }
        ServerSocket ss = new ServerSocket();
        ss.setReuseAddress(true);
        ss.bind(new InetSocketAddress(str(req, "host", "127.0.0.1"), ((Number) req.getOrDefault("port", 0)).intValue()), 128);
        e = new Endpoint(ss);
        e.update(ctx, auth, req);
        ENDPOINTS.put(name, e);
        Endpoint started = e;
        Thread t = new Thread(started::acceptLoop, "accept-" + name);
        t.setDaemon(true);
        t.start();
        return ss.getLocalPort();
    }

    /** One listening endpoint: plain accept, TLS with the context current at accept time. */
    private static final class Endpoint {
        final ServerSocket server;
        volatile SSLContext ctx;
        volatile String auth = "need";
        volatile String from = "";
        volatile String role = "";
        volatile double timeout = 5.0;
        /** 4.9 DN authorization: the client subjects (DER, base64) served; null: everyone. */
        volatile java.util.Set<String> allowed = null;
        /** Why the server side refused a connection, by the client's source port. */
        final Map<Integer, String> failures = new ConcurrentHashMap<>();

        Endpoint(ServerSocket server) {
            this.server = server;
        }

        void update(SSLContext c, String a, Map<String, Object> req) {
            ctx = c;
            auth = a;
            from = str(req, "from", "");
            role = str(req, "role", "");
            timeout = num(req, "timeout", 5.0);
            Object subjects = req.get("allowed_subjects");
            if (subjects instanceof List<?> l) {
                java.util.Set<String> set = new java.util.HashSet<>();
                for (Object o : l) {
                    set.add(String.valueOf(o));
                }
                allowed = set;
            } else {
                allowed = null;
            }
        }

        void close() {
            try {
                server.close();
            } catch (Exception ignored) {
                // closing anyway
            }
        }

        void acceptLoop() {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    POOL.execute(() -> serveOne(s));
                } catch (Exception ex) {
                    if (server.isClosed()) {
                        return;
                    }
                }
            }
        }

        void serveOne(Socket plain) {
            int remote = plain.getPort();
            try (plain) {
                plain.setSoTimeout((int) (timeout * 1000));
                SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(plain, null, remote, true);
                s.setUseClientMode(false);
                if (auth.equals("need")) {
                    s.setNeedClientAuth(true);
                } else if (auth.equals("want")) {
                    s.setWantClientAuth(true);
                }
                s.startHandshake();
                java.util.Set<String> allow = allowed;
                if (allow != null) {
                    // 4.9: a CAS whose subject DN is not authorized is dropped without a reply
                    Certificate[] peer = s.getSession().getPeerCertificates();
                    javax.security.auth.x500.X500Principal dn =
                            ((java.security.cert.X509Certificate) peer[0]).getSubjectX500Principal();
                    if (!allow.contains(Base64.getEncoder().encodeToString(dn.getEncoded()))) {
                        failures.put(remote, plain.getInetAddress().getHostAddress() + ":" + remote
                                + "'s certificate DN '" + dn.getName() + "' is not authorized on the CAM"
                                + " (4.9 CAM-CAS authorization)");
                        s.close();
                        return;
                    }
                }
                BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                String hello = r.readLine();
                if (hello == null) {
                    return;
                }
                Map<String, Object> reply = new LinkedHashMap<>();
                reply.put("ok", true);
                reply.put("from", from);
                reply.put("role", role);
                reply.put("error", null);
                OutputStream o = s.getOutputStream();
                o.write((Json.write(reply) + "\n").getBytes(StandardCharsets.UTF_8));
                o.flush();
                s.close();
            } catch (Exception ex) {
                failures.put(remote, describe(ex));
                if (failures.size() > 4096) {
                    failures.clear();
                }
            }
        }
    }

    // -- clients ---------------------------------------------------------------------------

    private static Map<String, Object> connect(Map<String, Object> req) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        String host = str(req, "host", "127.0.0.1");
        int port = ((Number) req.get("port")).intValue();
        String serverName = str(req, "server_name", host);
        double timeout = num(req, "timeout", 5.0);
        SSLContext ctx = context(req);
        Socket plain = new Socket();
        int local = -1;
        boolean shook = false;
        long start = System.nanoTime();
        try {
            plain.connect(new InetSocketAddress(host, port), (int) (timeout * 1000));
            plain.setSoTimeout((int) (timeout * 1000));
            local = plain.getLocalPort(); // connected: from here on, the peer can refuse us
            SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(plain, serverName, port, true);
            s.setUseClientMode(true);
            SSLParameters params = s.getSSLParameters();
            if (bool(req, "check_hostname", true)) {
                params.setEndpointIdentificationAlgorithm("HTTPS");
            }
            s.setSSLParameters(params);
            s.startHandshake();
            shook = true;
            out.put("handshake_ms", (System.nanoTime() - start) / 1e6);
            Certificate[] peer = s.getSession().getPeerCertificates();
            out.put("peer_sha256", hex(MessageDigest.getInstance("SHA-256").digest(peer[0].getEncoded())));
            List<Object> chain = new ArrayList<>();
            for (Certificate c : peer) {
                chain.add(Base64.getEncoder().encodeToString(c.getEncoded()));
            }
            out.put("peer_chain", chain);
            out.put("protocol", s.getSession().getProtocol());
            out.put("cipher", s.getSession().getCipherSuite());
            String hello = str(req, "hello", null);
            double confirm = num(req, "confirm", 0.0);
            if (hello == null && confirm > 0) {
                // TLS 1.3 servers judge the client certificate after the client's side of the
                // handshake: wait briefly for a refusal (an alert, or a close without a word).
                s.setSoTimeout((int) Math.max(1, confirm * 1000));
                try {
                    if (s.getInputStream().read() < 0) {
                        throw new java.io.EOFException();
                    }
                } catch (java.net.SocketTimeoutException quiet) {
                    // nothing said: accepted
                }
            }
            if (hello != null) {
                OutputStream o = s.getOutputStream();
                o.write((hello + "\n").getBytes(StandardCharsets.UTF_8));
                o.flush();
                BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                String line = r.readLine();
                if (line == null) {
                    throw new java.io.EOFException("the peer closed the connection without a reply");
                }
                out.put("reply", line);
            }
            s.close();
            out.put("ok", true);
        } catch (Exception ex) {
            out.put("ok", false);
            boolean peerQuit = ex instanceof java.net.SocketException || ex instanceof java.io.EOFException
                    || String.valueOf(ex.getMessage()).startsWith("Received fatal alert");
            if (local >= 0 && p12Sent(req) && (shook || peerQuit) && ex instanceof java.io.IOException) {
                // TLS 1.3: the server judges our certificate while we finish our side of the
                // handshake; whether we then see its alert, a reset or a broken pipe is a race,
                // so one wording (the server's own reason is in server_error when it is ours)
                out.put("error", "peer closed the connection during or right after the handshake "
                        + "(it requires a client certificate, or refused ours)");
            } else {
                out.put("error", describe(ex));
            }
            String view = serverView(port, local);
            if (view != null) {
                out.put("server_error", view);
            }
        } finally {
            plain.close();
        }
        return out;
    }

    private static boolean p12Sent(Map<String, Object> req) {
        return req.get("keystore") != null;
    }

    /** The server side's reason, when the server is one of ours (waits briefly for it). */
    private static String serverView(int port, int local) throws InterruptedException {
        if (local < 0) {
            return null;
        }
        for (int i = 0; i < 200; i++) { // up to 2 s: the server may be slower to give up
            for (Endpoint e : ENDPOINTS.values()) {
                if (e.server.getLocalPort() == port) {
                    String v = e.failures.remove(local);
                    if (v != null) {
                        return v;
                    }
                }
            }
            Thread.sleep(10);
        }
        return null;
    }

    // -- helpers ---------------------------------------------------------------------------

    static String describe(Throwable e) {
        String top = e.getClass().getName() + ": " + e.getMessage();
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root != e && root.getMessage() != null && !top.contains(root.getMessage())) {
            top += " (caused by " + root.getClass().getName() + ": " + root.getMessage() + ")";
        }
        return top;
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x));
        }
        return sb.toString();
    }

    static String str(Map<String, Object> m, String k, String dflt) {
        Object v = m.get(k);
        return v == null ? dflt : v.toString();
    }

    static double num(Map<String, Object> m, String k, double dflt) {
        Object v = m.get(k);
        return v instanceof Number n ? n.doubleValue() : dflt;
    }

    static boolean bool(Map<String, Object> m, String k, boolean dflt) {
        Object v = m.get(k);
        return v instanceof Boolean b ? b : dflt;
    }

    /** A minimal JSON reader and writer: objects, arrays, strings, numbers, booleans, null. */
    static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        @SuppressWarnings("unchecked")
        static Map<String, Object> object(String text) {
            Json j = new Json(text);
            Object v = j.value();
            j.ws();
            if (!(v instanceof Map) || j.i != text.length()) {
                throw new IllegalArgumentException("a request is one JSON object per line");
            }
            return (Map<String, Object>) v;
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private Object value() {
            ws();
            if (i >= s.length()) {
                throw new IllegalArgumentException("unexpected end of JSON");
            }
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++;
                ws();
                if (s.charAt(i) == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    ws();
                    String k = string();
                    ws();
                    expect(':');
                    m.put(k, value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect('}');
                        return m;
                    }
                }
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++;
                ws();
                if (s.charAt(i) == ']') {
                    i++;
                    return l;
                }
                while (true) {
                    l.add(value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect(']');
                        return l;
                    }
                }
            }
            if (c == '"') {
                return string();
            }
            if (s.startsWith("true", i)) {
                i += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", i)) {
                i += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", i)) {
                i += 4;
                return null;
            }
            int st = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            if (st == i) {
                throw new IllegalArgumentException("bad JSON at " + st);
            }
            return Double.valueOf(s.substring(st, i));
        }

        private void expect(char c) {
            if (i >= s.length() || s.charAt(i) != c) {
                throw new IllegalArgumentException("expected '" + c + "' at " + i);
            }
            i++;
        }

        private String string() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return sb.toString();
                }
                if (c == '\\') {
                    char e = s.charAt(i++);
                    switch (e) {
                        case 'n' -> sb.append('\n');
                        case 'r' -> sb.append('\r');
                        case 't' -> sb.append('\t');
                        case 'b' -> sb.append('\b');
                        case 'f' -> sb.append('\f');
                        case 'u' -> {
                            sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                            i += 4;
                        }
                        default -> sb.append(e);
                    }
                } else {
                    sb.append(c);
                }
            }
        }

        static String write(Object v) {
            if (v == null) {
                return "null";
            }
            if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
                return v.toString();
            }
            if (v instanceof Number n) {
                double d = n.doubleValue();
                return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
            }
            if (v instanceof List<?> l) {
                StringBuilder sb = new StringBuilder("[");
                for (int k = 0; k < l.size(); k++) {
                    sb.append(k == 0 ? "" : ", ").append(write(l.get(k)));
                }
                return sb.append(']').toString();
            }
            if (v instanceof Map<?, ?> m) {
                StringBuilder sb = new StringBuilder("{");
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) {
                        sb.append(", ");
                    }
                    first = false;
                    sb.append(write(e.getKey().toString())).append(": ").append(write(e.getValue()));
                }
                return sb.append('}').toString();
            }
            String t = v.toString();
            StringBuilder sb = new StringBuilder("\"");
            for (int k = 0; k < t.length(); k++) {
                char c = t.charAt(k);
                if (c == '"' || c == '\\') {
                    sb.append('\\').append(c);
                } else if (c < 0x20 || c > 0x7e) {
                    sb.append(String.format("\\u%04x", (int) c));
                } else {
                    sb.append(c);
                }
            }
            return sb.append('"').toString();
        }
    }
}
