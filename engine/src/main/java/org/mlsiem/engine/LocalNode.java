package org.mlsiem.engine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * One real OpenSearch node in this JVM, with the module plugins a distribution would load from its
 * modules/ folder passed as classpath plugins (there is no distribution download, only Maven jars).
 *
 * Arguments are node settings as -Ekey=value, exactly as the opensearch launcher takes them.
 * The node runs until the process gets SIGTERM/SIGINT, then closes cleanly.
 */
public final class LocalNode {

    private static final List<Class<? extends Plugin>> MODULES = List.of(
        Netty4Plugin.class,
        PainlessPlugin.class,
        CommonAnalysisPlugin.class,
        MapperExtrasPlugin.class,
        ReindexPlugin.class,
        IngestCommonPlugin.class
    );

    /** Node's constructor that takes classpath plugins is protected; this subclass opens it. */
    private static final class ModulesNode extends Node {
        ModulesNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder()
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("network.host", "127.0.0.1")
            // A development engine must not turn indices read-only because the shared disk is full-ish.
            .put("cluster.routing.allocation.disk.threshold_enabled", false);
        List<String> unknown = new ArrayList<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (!arg.startsWith("-E") || eq < 3) {
                unknown.add(arg);
                continue;
            }
            builder.put(arg.substring(2, eq), arg.substring(eq + 1));
        }
        if (!unknown.isEmpty()) {
            System.err.println("LocalNode: arguments must be -Ekey=value settings, got " + unknown);
            System.exit(64);
        }
        Settings settings = builder.build();
        String nodeName = settings.get("node.name", "mlsiem-local");
        Path config = Path.of(settings.get("path.home")).resolve("config");
        java.nio.file.Files.createDirectories(config);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> nodeName);
        LogConfigurator.registerErrorListener();
        LogConfigurator.configureWithoutConfig(environment.settings());

        Node node = new ModulesNode(environment, MODULES);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "mlsiem-local-node-shutdown"));
        node.start();
        System.out.println("mlsiem local node started: " + nodeName);
        closed.await();
    }
}
