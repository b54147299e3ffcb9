// LoopbackDynamoDB starts DynamoDB Local bound to 127.0.0.1 only.
//
// DynamoDB Local has no bind-address option: DynamoDBProxyServer builds its Jetty server with
// `new Server(port)`, which listens on every interface. This launcher builds the server through
// DynamoDB Local's own ServerRunner (same command-line flags as DynamoDBLocal.jar), sets the host
// of every Jetty ServerConnector to 127.0.0.1 before start(), and then starts it.
//
// Run with Java 17's single-file source launcher (no javac step):
//
//	java -Djava.library.path=<dir>/DynamoDBLocal_lib -cp "<dir>/DynamoDBLocal.jar:<dir>/DynamoDBLocal_lib/*" \
//	     tools/LoopbackDynamoDB.java -inMemory -port N -disableTelemetry
import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class LoopbackDynamoDB {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("bind.host", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field f = DynamoDBProxyServer.class.getDeclaredField("server");
        f.setAccessible(true);
        Server jetty = (Server) f.get(proxy);
        int bound = 0;
        for (Connector c : jetty.getConnectors()) {
            if (c instanceof ServerConnector sc) {
                sc.setHost(host);
                bound++;
            }
        }
        if (bound == 0) {
            System.err.println("LoopbackDynamoDB: no Jetty ServerConnector found; refusing to listen on all interfaces");
            System.exit(2);
        }
        proxy.start();
        System.out.println("LoopbackDynamoDB: listening on " + host);
        proxy.join();
    }
}
